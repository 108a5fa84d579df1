package cli_test

import (
	"bufio"
	"io"
	"testing"
)

// pipe carries a command's output to a test line by line.
type pipe struct{ r *bufio.Reader }

func newPipe() (*pipe, io.Writer) {
	r, w := io.Pipe()
	return &pipe{r: bufio.NewReader(r)}, w
}

func (p *pipe) line(t *testing.T) string {
	t.Helper()
	s, err := p.r.ReadString('\n')
	if err != nil {
		t.Fatalf("read output: %v", err)
	}
	return s
}
