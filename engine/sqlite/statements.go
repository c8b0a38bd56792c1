package sqlite

import (
	"strings"
	"sync"
)

// multiRow is the shape of a multi-row statement: its head, then rows
// copies of row separated by commas, then its tail.
type multiRow struct {
	head, row, tail string
	rows            int
}

// statementTexts keeps the text of each multi-row statement shape built
// so far. The write path runs statements of a few sizes (chunkSizes) over
// and over, and building each text anew (15 KB for 500 fires, a few
// copies on the way) was an eighth of what a run allocated at a million
// customers, which sets how often a collection lands in a run. Shapes are
// few: a statement kind for each of chunkSizes' ten sizes.
type statementTexts struct {
	mu sync.Mutex
	m  map[multiRow]string
}

// text returns the text of shape s, building it on first use.
func (t *statementTexts) text(s multiRow) string {
	t.mu.Lock()
	defer t.mu.Unlock()
	if q, ok := t.m[s]; ok {
		return q
	}
	q := s.head + strings.TrimSuffix(strings.Repeat(s.row+", ", s.rows), ", ") + s.tail
	if t.m == nil {
		t.m = map[multiRow]string{}
	}
	t.m[s] = q
	return q
}

// multiRow returns head, rows rows of cols anonymous parameters each, and
// tail: the text of a statement the write path runs again and again.
func (d *DB) multiRow(head string, rows, cols int, tail string) string {
	return d.texts.text(multiRow{head: head, row: placeholders(cols), tail: tail, rows: rows})
}

// placeholderRows holds "(?)", "(?, ?)", … for the column counts the
// write path's statements have.
var placeholderRows = func() (out [16]string) {
	for cols := 1; cols < len(out); cols++ {
		out[cols] = placeholderRow(cols)
	}
	return out
}()

// placeholders returns "(?, ?)" for a row of cols columns.
func placeholders(cols int) string {
	if cols > 0 && cols < len(placeholderRows) {
		return placeholderRows[cols]
	}
	return placeholderRow(cols)
}

func placeholderRow(cols int) string {
	return "(" + strings.TrimSuffix(strings.Repeat("?, ", cols), ", ") + ")"
}
