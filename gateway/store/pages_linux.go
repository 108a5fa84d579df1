package store

import (
	"bufio"
	"bytes"
	"os"
	"path/filepath"
	"strconv"

	"github.com/dgraph-io/badger/v4/table"
	"golang.org/x/sys/unix"
)

// dropTablePages drops this process's pages of the Badger tables in dir
// whose ids held accepts (madvise MADV_DONTNEED on each table's mapping),
// and returns how many bytes of mappings it dropped. The tables are
// shared, read-only file mappings, so this loses nothing: the pages stay
// in the page cache, and a later read maps them back in.
//
// The caller must hold a reference to every table held accepts, so that
// Badger cannot unmap one (and something else be mapped at its address,
// which MADV_DONTNEED would zero) between the reading of /proc/self/maps
// and the madvise.
func dropTablePages(dir string, held func(id uint64) bool) (int64, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return 0, err
	}
	if real, err := filepath.EvalSymlinks(abs); err == nil {
		abs = real
	}
	f, err := os.Open("/proc/self/maps")
	if err != nil {
		return 0, err
	}
	defer f.Close()
	var total int64
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// start-end perms offset dev inode path; a deleted file's path
		// ends in " (deleted)", so it has more fields and is skipped.
		fields := bytes.Fields(sc.Bytes())
		if len(fields) != 6 {
			continue
		}
		path := string(fields[5])
		id, ok := table.ParseFileID(path)
		if !ok || filepath.Dir(path) != abs || !held(id) {
			continue
		}
		lo, hi, ok := bytes.Cut(fields[0], []byte("-"))
		if !ok {
			continue
		}
		start, err1 := strconv.ParseUint(string(lo), 16, 64)
		end, err2 := strconv.ParseUint(string(hi), 16, 64)
		if err1 != nil || err2 != nil || end <= start {
			continue
		}
		// The address is the kernel's, not Go memory, so it goes to the
		// system call as a number.
		if _, _, errno := unix.Syscall(unix.SYS_MADVISE, uintptr(start), uintptr(end-start), unix.MADV_DONTNEED); errno != 0 {
			return total, errno
		}
		total += int64(end - start)
	}
	return total, sc.Err()
}
