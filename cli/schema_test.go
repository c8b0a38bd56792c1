package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"gopkg.in/yaml.v3"
)

// compileSchema compiles a committed schema with a real JSON Schema
// validator, which also checks the schema itself against its dialect.
func compileSchema(t *testing.T, file string) *jsonschema.Schema {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	doc, err := jsonschema.UnmarshalJSON(f)
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	if err := c.AddResource(file, doc); err != nil {
		t.Fatal(err)
	}
	s, err := c.Compile(file)
	if err != nil {
		t.Fatalf("compile %s: %v", file, err)
	}
	return s
}

// yamlJSON reads a YAML file as the JSON value a YAML editor sees.
func yamlJSON(t *testing.T, file string) any {
	t.Helper()
	src, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var v any
	if err := yaml.Unmarshal(src, &v); err != nil {
		t.Fatal(err)
	}
	return jsonValue(v)
}

// jsonValue turns yaml.v3's values into encoding/json's.
func jsonValue(v any) any {
	switch v := v.(type) {
	case map[string]any:
		for k, e := range v {
			v[k] = jsonValue(e)
		}
		return v
	case []any:
		for i, e := range v {
			v[i] = jsonValue(e)
		}
		return v
	case int:
		return json.Number(fmt.Sprint(v))
	case float64:
		return json.Number(fmt.Sprint(v))
	case time.Time:
		return v.Format(time.RFC3339)
	}
	return v
}

// TestSchemasAreCurrentAndExamplesValidate: the committed schemas are what
// koi schema prints, every example (playbook and test) names its schema on
// its first line and validates against it, and the schemas reject typos.
func TestSchemasAreCurrentAndExamplesValidate(t *testing.T) {
	for kind, file := range map[string]string{"playbook": "playbook.schema.json", "test": "playbook-test.schema.json"} {
		r := mustKoi(t, "schema", kind)
		committed, err := os.ReadFile("../examples/schema/" + file)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(committed, []byte(r.stdout)) {
			t.Errorf("examples/schema/%s is stale: run koi schema %s > examples/schema/%s", file, kind, file)
		}
	}
	playbook := compileSchema(t, "../examples/schema/playbook.schema.json")
	test := compileSchema(t, "../examples/schema/playbook-test.schema.json")
	files, _ := filepath.Glob("../examples/playbooks/*.yaml")
	if len(files) < 16 {
		t.Fatalf("want the 8 example playbooks and their tests, found %d files", len(files))
	}
	for _, f := range files {
		s, line := playbook, "# yaml-language-server: $schema=../schema/playbook.schema.json\n"
		if strings.HasSuffix(f, "_test.yaml") {
			s, line = test, "# yaml-language-server: $schema=../schema/playbook-test.schema.json\n"
		}
		src, _ := os.ReadFile(f)
		if !strings.HasPrefix(string(src), line) {
			t.Errorf("%s does not start with %q", f, line)
		}
		if err := s.Validate(yamlJSON(t, f)); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}

	bad := filepath.Join(t.TempDir(), "bad.yaml")
	write(t, bad, "name: x\nrules:\n  - id: r\n    when: member\n    cooldwn: 7d\n    actions: [{ coupon: { amount: 5, expires_in: 7 days } }]\n")
	err := playbook.Validate(yamlJSON(t, bad))
	if err == nil || !strings.Contains(err.Error(), "cooldwn") || !strings.Contains(err.Error(), "expires_in") {
		t.Errorf("a playbook with a typo and a bad duration validates: %v", err)
	}
	write(t, bad, "playbook: x.yaml\ncases:\n  - name: c\n    customers: [{ id: a, ordrs: [] }]\n    expect: { a: { fire: [r] } }\n")
	err = test.Validate(yamlJSON(t, bad))
	if err == nil || !strings.Contains(err.Error(), "ordrs") || !strings.Contains(err.Error(), "fire") {
		t.Errorf("a test file with typos validates: %v", err)
	}

	// Journeys: the docs' example validates; a step's typo, a file with
	// rules and a journey, and one with neither do not.
	journey := "name: sop\njourney:\n  enter: { on: wecom_add, when: orders == 0 }\n  reenter: never\n  exit_when: orders_since_entry > 0\n" +
		"  steps:\n    - id: welcome\n      after: 0m\n      actions: [{ tag: { add: [sop] } }]\n"
	write(t, bad, journey)
	if err := playbook.Validate(yamlJSON(t, bad)); err != nil {
		t.Errorf("a journey does not validate: %v", err)
	}
	for name, src := range map[string]string{
		"a step's typo":       strings.Replace(journey, "after: 0m", "afer: 0m", 1),
		"rules and a journey": journey + "rules:\n  - id: r\n    when: member\n    once: true\n    actions: [{ tag: { add: [x] } }]\n",
		"neither":             "name: x\n",
	} {
		write(t, bad, src)
		if err := playbook.Validate(yamlJSON(t, bad)); err == nil {
			t.Errorf("%s validates", name)
		}
	}
}
