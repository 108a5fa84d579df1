package cli_test

import (
	"bufio"
	"io"
	"testing"
)

// pipe carries a command's output to a test line by line.
type pipe struct{ r *bufio.Reader }

// newPipe returns the reading end and the writer; closing the writer
// makes a waiting line fail instead of hang.
func newPipe() (*pipe, *io.PipeWriter) {
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
