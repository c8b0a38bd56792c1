package httpapi

import (
	"context"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
)

// The OpenAPI document is valid OpenAPI 3 (kin-openapi's own validation,
// independent of the live test), and a client generator finds in it what
// it needs: an operationId for every operation, and a schema for every
// success that has a body. TestResponsesMatchOpenAPI holds the document to
// the routes the server has and to what they answer.
func TestOpenAPIDocumentIsValid(t *testing.T) {
	doc, err := openapi3.NewLoader().LoadFromData(openAPI)
	if err != nil {
		t.Fatalf("openapi.yaml: %v", err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		t.Fatalf("openapi.yaml is not valid OpenAPI: %v", err)
	}
	ids := map[string]string{}
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			where := method + " " + path
			if op.OperationID == "" {
				t.Errorf("%s has no operationId", where)
			} else if other, ok := ids[op.OperationID]; ok {
				t.Errorf("%s and %s share the operationId %s", where, other, op.OperationID)
			}
			ids[op.OperationID] = where
			for status, resp := range op.Responses.Map() {
				if !strings.HasPrefix(status, "2") || status == "204" {
					continue
				}
				if len(resp.Value.Content) == 0 {
					t.Errorf("%s: the %s response has no content", where, status)
				}
				for ct, media := range resp.Value.Content {
					if media.Schema == nil {
						t.Errorf("%s: the %s response's %s has no schema", where, status, ct)
					}
				}
			}
		}
	}
}
