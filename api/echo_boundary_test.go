package api_test

import (
	"go/ast"
	"go/parser"
	"go/printer"
	"go/token"
	"path/filepath"
	"strings"
	"testing"
)

// TestNoEchoInExportedAPI keeps Echo an implementation detail: no exported
// function, method, type or field of package api mentions it, so moving to
// Echo v5 stays a change inside this package.
func TestNoEchoInExportedAPI(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	mentions := func(n ast.Node) bool {
		var b strings.Builder
		if err := printer.Fprint(&b, fset, n); err != nil {
			t.Fatal(err)
		}
		return strings.Contains(b.String(), "echo.")
	}
	checked := 0
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, parser.SkipObjectResolution)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range f.Decls {
			switch d := d.(type) {
			case *ast.FuncDecl:
				if !d.Name.IsExported() || (d.Recv != nil && !exportedRecv(d.Recv)) {
					continue
				}
				checked++
				if mentions(d.Type) {
					t.Errorf("%s: exported %s mentions Echo", name, d.Name.Name)
				}
			case *ast.GenDecl:
				for _, s := range d.Specs {
					ts, ok := s.(*ast.TypeSpec)
					if !ok || !ts.Name.IsExported() {
						continue
					}
					checked++
					if st, ok := ts.Type.(*ast.StructType); ok {
						for _, fld := range st.Fields.List {
							if len(fld.Names) > 0 && !fld.Names[0].IsExported() {
								continue
							}
							if mentions(fld.Type) {
								t.Errorf("%s: exported field of %s mentions Echo", name, ts.Name.Name)
							}
						}
					} else if mentions(ts.Type) {
						t.Errorf("%s: exported type %s mentions Echo", name, ts.Name.Name)
					}
				}
			}
		}
	}
	if checked < 20 {
		t.Fatalf("checked only %d exported declarations; is the test looking at the package?", checked)
	}
}

func exportedRecv(recv *ast.FieldList) bool {
	typ := recv.List[0].Type
	if star, ok := typ.(*ast.StarExpr); ok {
		typ = star.X
	}
	id, ok := typ.(*ast.Ident)
	return ok && id.IsExported()
}
