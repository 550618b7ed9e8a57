# The directives of every module as the code declares them: parsed from
# the command_rec tables (AP_INIT_*("Name", fn, data, flags, "help")) of
# modules/*/*.c. Shared by t/docs/directives.t (the reference and the
# code agree, both ways) and by whoever regenerates docs/directives.md.
package Directives;
use strict;
use warnings;

sub context_of {
    my $flags = shift;
    my @c;
    push @c, 'server config', 'virtual host' if $flags =~ /RSRC_CONF/;
    push @c, 'directory' if $flags =~ /ACCESS_CONF/;
    push @c, '.htaccess' if $flags =~ /OR_/;
    return join ', ', @c;
}

sub override_of {
    my $flags = shift;
    my @o = map { ucfirst lc } $flags =~ /OR_(\w+)/g;
    return @o ? join(', ', @o) : 'None';
}

# name => { module, context, override, help, args, file }
sub from_code {
    my $top = shift;
    my %d;
    for my $file (sort glob "$top/modules/*/*.c") {
        my ($module) = $file =~ m{modules/(\w+)/};
        my $src = do { local (@ARGV, $/) = $file; <> };
        # Flags named by a macro: #define SCOPES (RSRC_CONF | ACCESS_CONF)
        my %macro = $src =~ /^#define\s+(\w+)\s+\(?((?:RSRC_CONF|ACCESS_CONF|OR_\w+)[\sA-Z_|]*?)\)?\s*$/mg;
        $src =~ s/\b$_\b(?=\s*,)/$macro{$_}/g for keys %macro;
        while ($src =~ /AP_INIT_(\w+)\(\s*"(\w+)"\s*,/g) {
            my ($args, $name, $at) = ($1, $2, pos $src);
            # The rest of the entry up to its closing parenthesis.
            my ($depth, $i, $rest) = (1, $at, '');
            while ($depth && $i < length $src) {
                my $c = substr($src, $i++, 1);
                if ($c eq '"') {
                    my $j = $i;
                    $j++ while substr($src, $j, 1) ne '"' || substr($src, $j - 1, 1) eq '\\';
                    $rest .= substr($src, $i - 1, $j - $i + 2);
                    $i = $j + 1;
                    next;
                }
                $depth++ if $c eq '(';
                $depth-- if $c eq ')';
                $rest .= $c if $depth;
            }
            my @strings = $rest =~ /"((?:[^"\\]|\\.)*)"/g;
            my ($flags) = $rest =~ /((?:RSRC_CONF|ACCESS_CONF|OR_\w+)(?:\s*\|\s*(?:RSRC_CONF|ACCESS_CONF|OR_\w+))*)/;
            $d{$name} = { module => "mod_llm_$module", args => $args,
                context => context_of($flags // ''),
                override => override_of($flags // ''),
                help => join('', @strings), file => $file };
        }
    }
    return \%d;
}

# name => { context, override, module, syntax, default } from the doc.
sub from_doc {
    my $path = shift;
    my $text = do { local (@ARGV, $/) = $path; <> };
    my %d;
    for my $sec (split /^## /m, $text) {
        my ($name) = $sec =~ /\A(LLM\w+)\s*$/m or next;
        my %f = $sec =~ /^\| (Description|Syntax|Default|Context|Override|Module) \| (.*?) \|\s*$/mg;
        $d{$name} = { map { lc($_) => $f{$_} } keys %f };
    }
    return \%d;
}

1;
