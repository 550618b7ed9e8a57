// render: "helm template" for t/docs/helm.t, where Helm itself is not to
// be had (Debian has no helm package; no other registry is reachable).
// The same engine as Helm: Go's text/template with sprig's functions
// (Debian's golang-github-masterminds-sprig-dev), Helm's own additions
// (include, tpl, toYaml, fromYaml, required, fail), the objects a chart
// sees (.Values, .Release, .Chart, .Template) and values merged the way
// "helm template -f file" merges them. Stricter than Helm where it helps
// a test: a reference to a value that does not exist is an error
// (missingkey=error), as "helm lint --strict" makes it.
//
//	render CHART_DIR [VALUES_FILE...]   the manifests on stdout, each
//	                                    after "# Source: <chart>/templates/<file>"
package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"text/template"

	"github.com/Masterminds/sprig"
	"gopkg.in/yaml.v3"
)

type values = map[string]interface{}

func readYAML(path string) (values, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	v := values{}
	if err := yaml.Unmarshal(b, &v); err != nil {
		return nil, fmt.Errorf("%s: %v", path, err)
	}
	return v, nil
}

// merge: src's values over dst's, maps merged key by key, as Helm
// merges -f files over the chart's values.yaml.
func merge(dst, src values) values {
	for k, v := range src {
		if sm, ok := v.(values); ok {
			if dm, ok := dst[k].(values); ok {
				dst[k] = merge(dm, sm)
				continue
			}
		}
		dst[k] = v
	}
	return dst
}

func toYAML(v interface{}) string {
	if v == nil {
		return ""
	}
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2) // as Helm's toYaml writes
	if err := enc.Encode(v); err != nil {
		return ""
	}
	return strings.TrimSuffix(buf.String(), "\n")
}

func funcs(t **template.Template) template.FuncMap {
	f := sprig.TxtFuncMap()
	// Helm removes these: a chart must not read the renderer's environment.
	delete(f, "env")
	delete(f, "expandenv")
	f["toYaml"] = toYAML
	f["fromYaml"] = func(s string) values {
		v := values{}
		if err := yaml.Unmarshal([]byte(s), &v); err != nil {
			v["Error"] = err.Error()
		}
		return v
	}
	f["include"] = func(name string, data interface{}) (string, error) {
		var buf bytes.Buffer
		err := (*t).ExecuteTemplate(&buf, name, data)
		return buf.String(), err
	}
	f["tpl"] = func(text string, data interface{}) (string, error) {
		c, err := (*t).Clone()
		if err != nil {
			return "", err
		}
		c, err = c.New("tpl").Parse(text)
		if err != nil {
			return "", err
		}
		var buf bytes.Buffer
		err = c.Execute(&buf, data)
		return buf.String(), err
	}
	f["required"] = func(msg string, v interface{}) (interface{}, error) {
		if v == nil || v == "" {
			return nil, errors.New(msg)
		}
		return v, nil
	}
	f["fail"] = func(msg string) (string, error) { return "", errors.New(msg) }
	return f
}

func run(chart string, files []string) error {
	meta, err := readYAML(filepath.Join(chart, "Chart.yaml"))
	if err != nil {
		return err
	}
	vals, err := readYAML(filepath.Join(chart, "values.yaml"))
	if err != nil {
		return err
	}
	for _, f := range files {
		over, err := readYAML(f)
		if err != nil {
			return err
		}
		vals = merge(vals, over)
	}
	name, _ := meta["name"].(string)
	chartObj := values{"Name": name, "Version": meta["version"],
		"AppVersion": meta["appVersion"], "Description": meta["description"]}

	paths, err := filepath.Glob(filepath.Join(chart, "templates", "*"))
	if err != nil {
		return err
	}
	sort.Strings(paths)
	var root *template.Template
	root = template.New(name).Option("missingkey=error").Funcs(funcs(&root))
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		id := name + "/templates/" + filepath.Base(p)
		if _, err := root.New(id).Parse(string(b)); err != nil {
			return err
		}
	}
	for _, p := range paths {
		base := filepath.Base(p)
		if strings.HasPrefix(base, "_") {
			continue // partials: defines only
		}
		id := name + "/templates/" + base
		data := values{
			"Values":  vals,
			"Chart":   chartObj,
			"Release": values{"Name": "test", "Namespace": "default", "Service": "Helm", "IsInstall": true, "IsUpgrade": false, "Revision": 1},
			"Template": values{"Name": id, "BasePath": name + "/templates"},
		}
		var buf bytes.Buffer
		if err := root.ExecuteTemplate(&buf, id, data); err != nil {
			return err
		}
		fmt.Printf("---\n# Source: %s\n%s\n", id, buf.String())
	}
	return nil
}

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: render CHART_DIR [VALUES_FILE...]")
		os.Exit(2)
	}
	if err := run(os.Args[1], os.Args[2:]); err != nil {
		fmt.Fprintln(os.Stderr, "render:", err)
		os.Exit(1)
	}
}
