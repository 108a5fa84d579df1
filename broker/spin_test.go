package broker_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"strings"
	"testing"
)

// TestNoUnboundedSpinInBrokerTests holds the broker's tests (this package
// and its subpackages) to the project's rule that every wait has a deadline
// and no test sleeps to wait: a test that polls with time.Sleep or
// runtime.Gosched, or spins on an empty loop, hangs until the test binary's
// timeout when the condition never comes instead of failing with a message.
// Waits are on channels, with waitFor as the deadline.
func TestNoUnboundedSpinInBrokerTests(t *testing.T) {
	fset := token.NewFileSet()
	var found []string
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, "_test.go") {
			return err
		}
		f, err := parser.ParseFile(fset, path, nil, 0)
		if err != nil {
			return err
		}
		ast.Inspect(f, func(n ast.Node) bool {
			switch n := n.(type) {
			case *ast.CallExpr:
				sel, ok := n.Fun.(*ast.SelectorExpr)
				if !ok {
					return true
				}
				pkg, ok := sel.X.(*ast.Ident)
				if ok && (pkg.Name == "time" && sel.Sel.Name == "Sleep" || pkg.Name == "runtime" && sel.Sel.Name == "Gosched") {
					found = append(found, fset.Position(n.Pos()).String()+": "+pkg.Name+"."+sel.Sel.Name)
				}
			case *ast.ForStmt:
				if n.Cond != nil && len(n.Body.List) == 0 {
					found = append(found, fset.Position(n.Pos()).String()+": a loop that spins on its condition")
				}
			}
			return true
		})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range found {
		t.Errorf("%s: wait on a channel with a deadline instead", f)
	}
}
