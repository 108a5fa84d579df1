package gateway

import (
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestEveryPackageHasADocComment walks the repository and insists that each
// package has a doc comment that begins "Package NAME" (or "Command" for
// main packages): a package's design is written where its code is.
func TestEveryPackageHasADocComment(t *testing.T) {
	root := ".."
	checked := 0
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			return nil
		}
		name := d.Name()
		if path != root && (strings.HasPrefix(name, ".") || name == "testdata" || name == "out") {
			return filepath.SkipDir
		}
		if path != root {
			if _, err := os.Stat(filepath.Join(path, "go.mod")); err == nil {
				return filepath.SkipDir // another module (build/tools)
			}
		}
		files, err := filepath.Glob(filepath.Join(path, "*.go"))
		if err != nil {
			return err
		}
		docs := map[string]bool{} // package name → has a doc comment
		for _, file := range files {
			if strings.HasSuffix(file, "_test.go") {
				continue
			}
			f, err := parser.ParseFile(token.NewFileSet(), file, nil, parser.ParseComments|parser.PackageClauseOnly)
			if err != nil {
				return err
			}
			pname := f.Name.Name
			want := "Package " + pname + " "
			if pname == "main" {
				want = "Command "
			}
			docs[pname] = docs[pname] || (f.Doc != nil && strings.HasPrefix(f.Doc.Text(), want))
		}
		for pname, ok := range docs {
			checked++
			if !ok {
				t.Errorf("%s: package %s has no doc comment starting \"Package %s\" (or \"Command\")", path, pname, pname)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if checked < 20 {
		t.Fatalf("checked only %d packages; the walk is broken", checked)
	}
}
