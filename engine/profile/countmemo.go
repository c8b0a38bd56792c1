package profile

// countMemo remembers the arguments of the count() calls one evaluation
// worker met: a playbook's conditions name the same few literal (type,
// window) pairs for every customer, and parsing the window and looking the
// type up under the type table's lock, for every call of every customer,
// was a tenth of evaluating the bench's engagement playbook.
type countMemo struct {
	// types is the table the ids are of: a buffer filled from another
	// pond forgets them.
	types *typeTable
	n     int
	args  [8]countArgs
}

// countArgs is one remembered count(type, window): the type's id and the
// window's length in milliseconds.
type countArgs struct {
	typ, window string
	id          uint16
	ms          int64
}

// countArgs returns the id of type typ in types and the length of window
// in milliseconds, and false when the window is not one or no event has
// the type. A type found is remembered (ids never change); one not found
// is looked up again next time, as events of it may have arrived since.
// A nil memo remembers nothing.
func (m *countMemo) countArgs(types *typeTable, typ, window string) (uint16, int64, bool) {
	if m != nil {
		if m.types != types {
			m.types, m.n = types, 0
		}
		for k := 0; k < m.n; k++ {
			if a := &m.args[k]; a.typ == typ && a.window == window {
				return a.id, a.ms, true
			}
		}
	}
	d, err := parseWindow(window)
	if err != nil {
		return 0, 0, false
	}
	id, ok := types.lookup(typ)
	if !ok {
		return 0, 0, false
	}
	if m != nil && m.n < len(m.args) {
		m.args[m.n] = countArgs{typ: typ, window: window, id: id, ms: d.Milliseconds()}
		m.n++
	}
	return id, d.Milliseconds(), true
}
