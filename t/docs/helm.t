# The Helm chart docker/helm/mod-llm, rendered and checked (issue 16):
# t/helm/render.go renders it the way "helm template" does (Go's
# text/template, sprig, Helm's functions; a missing value is an error),
# with the default values and with every option set; every manifest
# must parse as YAML and say what a working deployment needs: the
# image, its port and user, probes on /ping, the models file and conf.d
# mounted from ConfigMaps that exist, a models file llmctl accepts,
# selectors that tell the gateway from Redis, the Redis address. Every
# value a template names is in values.yaml, every value is in the
# chart's README, a template naming a missing value fails to render.
use strict;
use warnings FATAL => 'all';

use Apache::Test;
use File::Path qw(rmtree mkpath);
use File::Copy qw(copy);
use FindBin;
use JSON::PP;
use lib 't/lib';
use LLMTest;

my $top = "$FindBin::Bin/../..";
my $chart = "$top/docker/helm/mod-llm";
my $gopath = '/usr/share/gocode';
my $have_go = -x '/usr/bin/go' && -d "$gopath/src/github.com/Masterminds/sprig"
    && -d "$gopath/src/gopkg.in/yaml.v3";
my $have_yaml = eval { require YAML::XS; 1 };

plan tests => 44,
    need need_module('llm_router'),
         { 'Go and sprig (scripts/install-deps: golang-go, golang-github-masterminds-sprig-dev)' => $have_go },
         { 'YAML::XS (scripts/install-deps: libyaml-libyaml-perl)' => $have_yaml };

my $root = Apache::Test::vars('serverroot');
my $dir = "$root/logs/helm";
rmtree($dir);
mkpath($dir);

# Go's tools and the renderer without the sanitizer pass's preloaded
# runtime (it is for httpd).
local $ENV{GO111MODULE} = 'off';
local $ENV{GOPATH} = $gopath;
local $ENV{GOCACHE} = "$dir/gocache";
local $ENV{GOFLAGS} = '';
my $render = "$dir/render";
my $out = `env -u LD_PRELOAD go build -o $render $top/t/helm/render.go 2>&1`;
ok $? == 0 or diag $out;

sub render {   # render(values files...) -> (manifests by "kind/name", stderr, status)
    my @files = @_;
    my $text = `env -u LD_PRELOAD $render $chart @files 2>$dir/render.err`;
    my $status = $?;
    my %docs;
    for my $part (split /^---\n/m, $text) {
        next unless $part =~ /\S/;
        my ($source) = $part =~ /^# Source: (\S+)/m;
        next if $source && $source =~ /NOTES\.txt$/;
        my $doc = eval { YAML::XS::Load($part) };
        if (!$doc && $@) {
            diag "not YAML ($source): $@";
            $docs{'!invalid'}++;
            next;
        }
        next unless ref $doc;   # a template that renders to nothing
        $docs{"$doc->{kind}/$doc->{metadata}{name}"} = $doc;
    }
    my $err = do { local (@ARGV, $/) = "$dir/render.err"; <> // '' };
    return (\%docs, $err, $status, $text);
}

sub same_kinds {   # the manifests rendered are these
    my ($docs, @want) = @_;
    my $got = join ' ', sort keys %$docs;
    ok $got eq join(' ', sort @want) or diag "rendered: $got";
}

sub subset {   # every pair of $a in $b
    my ($x, $y) = @_;
    return !grep { ($y->{$_} // '') ne $x->{$_} } keys %$x;
}

my $meta = YAML::XS::LoadFile("$chart/Chart.yaml");
ok $meta->{apiVersion} eq 'v2' && $meta->{name} eq 'mod-llm'
    && $meta->{version} =~ /^\d+\.\d+\.\d+$/ && $meta->{appVersion};

# --- the default values ---
my ($docs, $err, $status) = render();
ok $status == 0 or diag $err;
ok !$docs->{'!invalid'};
same_kinds($docs, 'ConfigMap/test-mod-llm-models', 'ConfigMap/test-mod-llm-conf',
           'Deployment/test-mod-llm', 'Service/test-mod-llm');
my $dep = $docs->{'Deployment/test-mod-llm'};
my $pod = $dep->{spec}{template};
my ($c) = @{ $pod->{spec}{containers} };
ok $c->{image} eq "mod_llm:$meta->{appVersion}";
my %env = map { $_->{name} => $_->{value} } @{ $c->{env} };
ok $env{LLM_PORT} eq '8080' && $c->{ports}[0]{containerPort} == 8080
    && $c->{ports}[0]{name} eq 'http';
ok !exists $env{LLM_REDIS};
for my $probe (qw(livenessProbe readinessProbe)) {
    ok $c->{$probe}{httpGet}{path} eq '/ping' && $c->{$probe}{httpGet}{port} eq 'http';
}
ok $pod->{spec}{securityContext}{runAsUser} == 33
    && $pod->{spec}{securityContext}{runAsNonRoot};
ok $c->{lifecycle}{preStop}{exec}{command}[2] =~ /kill -WINCH 1/;
my %mounts = map { $_->{name} => $_ } @{ $c->{volumeMounts} };
ok $mounts{models}{mountPath} eq '/etc/mod_llm/models.json'
    && $mounts{models}{subPath} eq 'models.json'
    && $mounts{conf}{mountPath} eq '/etc/mod_llm/conf.d';
my %volumes = map { $_->{name} => $_->{configMap}{name} } @{ $pod->{spec}{volumes} };
ok $docs->{"ConfigMap/$volumes{models}"} && $docs->{"ConfigMap/$volumes{conf}"}
    or diag "volumes: @{[ %volumes ]}";
ok $pod->{metadata}{annotations}{'checksum/config'} =~ /^[0-9a-f]{64}$/;
ok subset($dep->{spec}{selector}{matchLabels}, $pod->{metadata}{labels});
my $svc = $docs->{'Service/test-mod-llm'};
ok subset($svc->{spec}{selector}, $pod->{metadata}{labels})
    && $svc->{spec}{ports}[0]{targetPort} eq 'http';

# The default models file is one the gateway accepts.
my $models = $docs->{'ConfigMap/test-mod-llm-models'}{data}{'models.json'};
ok eval { decode_json($models); 1 };
{
    open my $fh, '>', "$dir/models.json" or die; print $fh $models; close $fh;
    my $llmctl = LLMTest::llmctl_path();
    my $said = `$llmctl config check $dir/models.json 2>&1`;
    ok $? == 0 or diag $said;
}
ok $docs->{'ConfigMap/test-mod-llm-conf'}{data}{'chart.conf'} =~ /^# Included/;

# --- every option set ---
open my $fh, '>', "$dir/values.yaml" or die;
print $fh <<'YAML';
replicaCount: 3
port: 9000
image: {repository: registry.example/mod_llm, tag: "1.2.3"}
imagePullSecrets: [{name: regcred}]
models: {existingConfigMap: my-models}
extraConfig: |
  <Location /v1/>
      AuthType llm-key
      Require valid-user
  </Location>
env: {LLM_ROUTER_EP_PREFIX: /router, LLM_MASK: "true"}
extraEnv:
  - name: LLM_GUARD_NASK
    valueFrom: {secretKeyRef: {name: guard, key: url}}
redis: {enabled: true, port: 6380}
service: {type: LoadBalancer, port: 80, annotations: {team: llm}}
podAnnotations: {prometheus.io/scrape: "true"}
nodeSelector: {gpu: "false"}
tolerations: [{key: dedicated, operator: Exists}]
affinity: {podAntiAffinity: {}}
probes: {path: /api/ping}
preStopDelaySeconds: 9
extraVolumes:
  - name: keys
    secret: {secretName: llm-keys}
extraVolumeMounts:
  - name: keys
    mountPath: /etc/mod_llm/keys
YAML
close $fh;
($docs, $err, $status) = render("$dir/values.yaml");
ok $status == 0 or diag $err;
ok !$docs->{'!invalid'};
same_kinds($docs, 'ConfigMap/test-mod-llm-conf', 'Deployment/test-mod-llm',
           'Service/test-mod-llm', 'Deployment/test-mod-llm-redis',
           'Service/test-mod-llm-redis');
$dep = $docs->{'Deployment/test-mod-llm'};
$pod = $dep->{spec}{template};
($c) = @{ $pod->{spec}{containers} };
%env = map { $_->{name} => $_->{value} // 'from-secret' } @{ $c->{env} };
ok $dep->{spec}{replicas} == 3 && $c->{image} eq 'registry.example/mod_llm:1.2.3';
ok $env{LLM_PORT} eq '9000' && $c->{ports}[0]{containerPort} == 9000;
ok $env{LLM_REDIS} eq 'test-mod-llm-redis:6380';
my $rsvc = $docs->{'Service/test-mod-llm-redis'};
ok $rsvc->{spec}{ports}[0]{port} == 6380;
ok $env{LLM_ROUTER_EP_PREFIX} eq '/router' && $env{LLM_MASK} eq 'true'
    && $env{LLM_GUARD_NASK} eq 'from-secret';
%volumes = map { $_->{name} => $_->{configMap}{name} } @{ $pod->{spec}{volumes} };
ok $volumes{models} eq 'my-models';
ok $docs->{'ConfigMap/test-mod-llm-conf'}{data}{'chart.conf'} =~ m{AuthType llm-key\n};
ok $pod->{metadata}{annotations}{'prometheus.io/scrape'} eq 'true';
ok $pod->{spec}{nodeSelector}{gpu} eq 'false'
    && $pod->{spec}{tolerations}[0]{key} eq 'dedicated'
    && exists $pod->{spec}{affinity}{podAntiAffinity}
    && $pod->{spec}{imagePullSecrets}[0]{name} eq 'regcred';
$svc = $docs->{'Service/test-mod-llm'};
ok $svc->{spec}{type} eq 'LoadBalancer' && $svc->{spec}{ports}[0]{port} == 80
    && $svc->{metadata}{annotations}{team} eq 'llm';
# The gateway's selectors never pick Redis's pods, nor Redis's the gateway's.
my $rpod = $docs->{'Deployment/test-mod-llm-redis'}{spec}{template};
ok !subset($svc->{spec}{selector}, $rpod->{metadata}{labels})
    && !subset($dep->{spec}{selector}{matchLabels}, $rpod->{metadata}{labels});
ok subset($rsvc->{spec}{selector}, $rpod->{metadata}{labels})
    && !subset($rsvc->{spec}{selector}, $pod->{metadata}{labels});
ok $rpod->{spec}{containers}[0]{ports}[0]{containerPort} == 6380;
ok $c->{livenessProbe}{httpGet}{path} eq '/api/ping'
    && $c->{readinessProbe}{httpGet}{path} eq '/api/ping'
    && $c->{lifecycle}{preStop}{exec}{command}[2] =~ /^sleep 9; kill -WINCH 1/;
my %vols = map { $_->{name} => $_ } @{ $pod->{spec}{volumes} };
my %mnts = map { $_->{name} => $_ } @{ $c->{volumeMounts} };
ok $vols{keys}{secret}{secretName} eq 'llm-keys'
    && $mnts{keys}{mountPath} eq '/etc/mod_llm/keys'
    && $mnts{models} && $vols{conf};

# --- values: what the templates name, what the README lists ---
my $values = YAML::XS::LoadFile("$chart/values.yaml");
sub value_exists {
    my ($v, @path) = @_;
    for my $k (@path) {
        return 0 unless ref $v eq 'HASH' && exists $v->{$k};
        $v = $v->{$k};
    }
    return 1;
}
my (@named, @missing);
for my $t (glob "$chart/templates/*") {
    my $text = do { local (@ARGV, $/) = $t; <> };
    while ($text =~ /\.Values((?:\.[A-Za-z_][A-Za-z0-9_]*)+)/g) {
        my @path = split /\./, substr($1, 1);
        push @named, join '.', @path;
        push @missing, "$t: .Values.$1" unless value_exists($values, @path);
    }
}
ok @named > 30 or diag scalar @named;
ok !@missing or diag "not in values.yaml: @missing";

my @leaves;
sub leaves {
    my ($v, $prefix) = @_;
    if (ref $v eq 'HASH' && %$v && $prefix !~ /^(env|podSecurityContext|securityContext)$/) {
        leaves($v->{$_}, $prefix eq '' ? $_ : "$prefix.$_") for sort keys %$v;
    } else {
        push @leaves, $prefix;
    }
}
leaves($values, '');
my $readme = do { local (@ARGV, $/) = "$chart/README.md"; <> };
my @undocumented = grep { index($readme, "| `$_` |") < 0 } @leaves;
ok !@undocumented or diag "not in the chart's README: @undocumented";

# The variables the chart sets are ones the image reads.
my $entry = do { local (@ARGV, $/) = "$top/docker/entrypoint"; <> };
my @unknown = grep { $entry !~ /\b$_\b/ } (keys %{ $values->{env} }, 'LLM_PORT', 'LLM_REDIS');
ok !@unknown or diag "not read by docker/entrypoint: @unknown";

# A template that names a value values.yaml does not have fails.
my $bad = "$dir/bad-chart";
mkpath("$bad/templates");
copy("$chart/$_", "$bad/$_") for qw(Chart.yaml values.yaml);
copy($_, "$bad/templates/") for glob "$chart/templates/*";
open $fh, '>', "$bad/templates/typo.yaml" or die;
print $fh "kind: ConfigMap\ndata:\n  x: {{ .Values.servcie.port }}\n";
close $fh;
my $said = `env -u LD_PRELOAD $render $bad 2>&1`;
ok $? != 0 && $said =~ /servcie/ or diag $said;

# The chart's metadata and the Dockerfile agree on the port and user.
my $dockerfile = do { local (@ARGV, $/) = "$top/docker/Dockerfile"; <> };
ok $dockerfile =~ /^USER www-data$/m && $dockerfile =~ /^EXPOSE 8080$/m;
