# docs/directives.md against the modules' command tables, both ways:
# every directive the code declares has its section, with the Context
# its flags give and its module; every section names a directive the
# code declares. A reference that drifts from the code fails here.
use strict;
use warnings FATAL => 'all';

use Apache::Test;
use FindBin;

require "$FindBin::Bin/directives.pl";

my $top = "$FindBin::Bin/../..";
my $code = Directives::from_code($top);
my $doc = Directives::from_doc("$top/docs/directives.md");
my @names = sort keys %$code;

plan tests => 2 + 3 * @names;

my @undocumented = grep { !$doc->{$_} } @names;
ok !@undocumented or print "# not in docs/directives.md: @undocumented\n";
my @unknown = grep { !$code->{$_} } sort keys %$doc;
ok !@unknown or print "# in docs/directives.md, not in the code: @unknown\n";
for my $n (@names) {
    my $d = $doc->{$n} // {};
    ok(($d->{context} // '') eq $code->{$n}{context})
        or print "# $n: Context '", $d->{context} // '', "', the code says '",
                 $code->{$n}{context}, "'\n";
    ok(($d->{module} // '') eq $code->{$n}{module})
        or print "# $n: Module '", $d->{module} // '', "', not ",
                 $code->{$n}{module}, "\n";
    ok(($d->{syntax} // '') =~ /^`\Q$n\E\b/ && ($d->{default} // '') ne '')
        or print "# $n: no Syntax or Default\n";
}
