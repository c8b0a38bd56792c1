package httpapi

import (
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/labstack/echo/v4"
	"gopkg.in/yaml.v3"
)

// The OpenAPI document lists exactly the routes the server has.
func TestOpenAPIMatchesRoutes(t *testing.T) {
	ec := New(nil, Config{}).(*echo.Echo)
	param := regexp.MustCompile(`:([a-z_]+)`)
	served := map[string]bool{}
	for _, r := range ec.Routes() {
		if !strings.HasPrefix(r.Path, "/api/v1/") || r.Path == "/api/v1/openapi.yaml" || r.Method == echo.RouteNotFound {
			continue
		}
		served[r.Method+" "+param.ReplaceAllString(strings.TrimPrefix(r.Path, "/api/v1"), "{$1}")] = true
	}
	var doc struct {
		Paths map[string]map[string]any `yaml:"paths"`
	}
	if err := yaml.Unmarshal(openAPI, &doc); err != nil {
		t.Fatalf("openapi.yaml: %v", err)
	}
	documented := map[string]bool{}
	for path, ops := range doc.Paths {
		for method := range ops {
			if method == "parameters" {
				continue
			}
			documented[strings.ToUpper(method)+" "+path] = true
		}
	}
	var missing, extra []string
	for r := range served {
		if !documented[r] {
			missing = append(missing, r)
		}
	}
	for r := range documented {
		if !served[r] {
			extra = append(extra, r)
		}
	}
	sort.Strings(missing)
	sort.Strings(extra)
	if len(missing) > 0 || len(extra) > 0 {
		t.Fatalf("routes missing from openapi.yaml: %v\ndocumented routes that do not exist: %v", missing, extra)
	}
	if len(served) < 18 {
		t.Fatalf("only %d routes found: %v", len(served), served)
	}
}
