package httpapi

import (
	_ "embed"
	"net/http"

	"github.com/labstack/echo/v4"
)

// openAPI documents the API. TestResponsesMatchOpenAPI fails when a route
// is missing from it or it lists one that does not exist, and when a live
// response does not match it.
//
//go:embed openapi.yaml
var openAPI []byte

// serveOpenAPI serves the OpenAPI document, without a key: it is public
// documentation.
func serveOpenAPI(c echo.Context) error {
	return c.Blob(http.StatusOK, "application/yaml", openAPI)
}
