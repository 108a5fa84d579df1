package api_test

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/lintel-access/lintel/api"
)

type openAPIDoc struct {
	OpenAPI string `json:"openapi"`
	Paths   map[string]map[string]struct {
		Description string `json:"description"`
	} `json:"paths"`
}

func loadOpenAPI(t *testing.T, h *harness) openAPIDoc {
	t.Helper()
	var doc openAPIDoc
	body := h.mustDo(request{method: "GET", path: "/api/v1/openapi.json", token: adminToken}, 200)
	if err := json.Unmarshal([]byte(body), &doc); err != nil {
		t.Fatalf("openapi.json does not parse: %v", err)
	}
	return doc
}

// TestOpenAPIMatchesRoutes checks that every route the server has (with the
// simulator on) is in the OpenAPI document, and that the document describes
// no route the server lacks.
func TestOpenAPIMatchesRoutes(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	doc := loadOpenAPI(t, h)
	if !strings.HasPrefix(doc.OpenAPI, "3.") {
		t.Errorf("got openapi %q, want 3.x", doc.OpenAPI)
	}
	var documented []string
	for path, ops := range doc.Paths {
		for method := range ops {
			documented = append(documented, strings.ToUpper(method)+" "+path)
		}
	}
	sort.Strings(documented)
	if diff := cmp.Diff(documented, h.server.Routes()); diff != "" {
		t.Errorf("routes documented (-) and served (+) differ:\n%s", diff)
	}
}

// TestOpenAPIRolesMatchRouter checks the roles each operation documents
// ("Roles: admin, technician.") against what the router lets each role do.
func TestOpenAPIRolesMatchRouter(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	doc := loadOpenAPI(t, h)
	tokens := map[api.Role]string{api.RoleAdmin: adminToken, api.RoleTechnician: techToken, api.RolePortal: portalToken, api.RoleMonitor: monitorToken}
	for path, ops := range doc.Paths {
		for method, op := range ops {
			roles, ok := strings.CutPrefix(op.Description, "Roles: ")
			if !ok {
				t.Errorf("%s %s: description %q does not start with its roles", method, path, op.Description)
				continue
			}
			if strings.HasPrefix(roles, "none") || path == "/session" {
				continue // anonymous routes
			}
			roles, _, _ = strings.Cut(roles, ".")
			roles, _, _ = strings.Cut(roles, " (")
			documented := map[api.Role]bool{}
			for _, r := range strings.Split(roles, ", ") {
				documented[api.Role(r)] = true
			}
			concrete := strings.NewReplacer("{id}", "u1", "{door}", "front", "{reader}", "garage").Replace(path)
			for role, tok := range tokens {
				req := httptest.NewRequest(strings.ToUpper(method), concrete, strings.NewReader("{}"))
				req.Header.Set("Authorization", "Bearer "+tok)
				req.Header.Set("Content-Type", "application/json")
				ctx, cancel := context.WithCancel(req.Context())
				cancel() // event streams end at once
				rec := httptest.NewRecorder()
				h.handler.ServeHTTP(rec, req.WithContext(ctx))
				allowed := rec.Code != 401 && rec.Code != 403
				if allowed != documented[role] {
					t.Errorf("%s %s as %s: got status %d, documented roles %q", method, path, role, rec.Code, roles)
				}
			}
		}
	}
}
