package sqlite_test

import (
	"context"
	"os"
	"reflect"
	"runtime"
	"strconv"
	"testing"

	"github.com/koihq/koi/engine/domain"
	"github.com/koihq/koi/engine/profile"
	"github.com/koihq/koi/engine/sqlite"
)

// pondValues is every customer's profile values at t0 and their latest
// events, by id: what a pond means to evaluation.
func pondValues(t *testing.T, p *profile.Pond) map[string]any {
	t.Helper()
	s := profile.ComputeSnapshot(p, t0, profile.ProfileConfig{})
	out := map[string]any{}
	for i := range p.Len() {
		if !s.Present[i] {
			continue
		}
		out[s.ID(i)] = []any{s.Profile(i).Values(), p.RecentEvents(i, 100)}
	}
	return out
}

// The pond image is read instead of the tables while it names the
// database's pond version; a change, damage or a replaced database sends
// the load back to the tables, and the stale image goes.
func TestPondImage(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	f.customers(30, 12)
	if err := f.db.UpsertCustomers(ctx, []domain.Customer{{ID: "attrs", JoinedAt: t0.Add(-day), Attrs: map[string]any{"city": "上海", "prefs": map[string]any{"a": 1.0}}, Tags: []string{"x"}, OptOut: []string{"sms"}}}, t0); err != nil {
		t.Fatal(err)
	}
	e := f.engine()
	if err := e.Warm(ctx); err != nil {
		t.Fatal(err)
	}
	fromTables, err := f.db.LoadPond(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.SavePondImage(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(f.db.ImagePath()); err != nil {
		t.Fatalf("no image after SavePondImage: %v", err)
	}
	fromImage, err := f.db.LoadPond(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if want, got := pondValues(t, fromTables), pondValues(t, fromImage); !reflect.DeepEqual(got, want) {
		t.Fatalf("the image's pond differs from the tables':\n got %v\nwant %v", got, want)
	}
	if fromImage.Version != fromTables.Version {
		t.Errorf("image version %d, tables %d", fromImage.Version, fromTables.Version)
	}

	// A change behind the pond version's back (no koi writer does this)
	// shows which one a load read: the image, while it is current.
	if _, err := f.db.SQL().Exec(`UPDATE customers SET name = 'changed' WHERE id = 'c001'`); err != nil {
		t.Fatal(err)
	}
	p, err := f.db.LoadPond(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if i, _ := p.Lookup("c001"); p.Customers[i].Name == "changed" {
		t.Fatal("LoadPond read the tables though the image was current")
	}

	// A real change moves the version on: the tables are read, the image
	// removed.
	if err := f.db.UpsertCustomers(ctx, []domain.Customer{{ID: "new", JoinedAt: t0}}, t0); err != nil {
		t.Fatal(err)
	}
	if p, err = f.db.LoadPond(ctx); err != nil {
		t.Fatal(err)
	}
	if _, ok := p.Lookup("new"); !ok {
		t.Fatal("a stale image was read")
	}
	if _, err := os.Stat(f.db.ImagePath()); !os.IsNotExist(err) {
		t.Errorf("the stale image is still there: %v", err)
	}

	// A damaged image is not read, and goes.
	if err := e.Warm(ctx); err != nil {
		t.Fatal(err)
	}
	if err := e.SavePondImage(ctx); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(f.db.ImagePath())
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)/2] ^= 1
	if err := os.WriteFile(f.db.ImagePath(), b, 0o644); err != nil {
		t.Fatal(err)
	}
	if p, err = f.db.LoadPond(ctx); err != nil {
		t.Fatal(err)
	}
	if want, got := pondValues(t, fromTablesNow(t, f)), pondValues(t, p); !reflect.DeepEqual(got, want) {
		t.Fatal("a damaged image's load differs from the tables'")
	}
	if _, err := os.Stat(f.db.ImagePath()); !os.IsNotExist(err) {
		t.Errorf("the damaged image is still there: %v", err)
	}
}

// fromTablesNow loads the pond from the tables, with no image about.
func fromTablesNow(t *testing.T, f *fixture) *profile.Pond {
	t.Helper()
	_ = os.Remove(f.db.ImagePath())
	p, err := f.db.LoadPond(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// Replacing the database (koi restore) removes its pond image: the new
// database may reach the image's version number with other contents.
func TestReplaceRemovesThePondImage(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	f.customers(3, 1)
	e := f.engine()
	if err := e.Warm(ctx); err != nil {
		t.Fatal(err)
	}
	if err := e.SavePondImage(ctx); err != nil {
		t.Fatal(err)
	}
	path := f.path()
	image := f.db.ImagePath()
	f.db.Close()
	if err := sqlite.Replace(ctx, path, func(*sqlite.DB) error { return nil }); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(image); !os.IsNotExist(err) {
		t.Errorf("the old database's image survived the replace: %v", err)
	}
}

// An image of another database is not read, though it names the same
// pond version: a database put in place of another (a restore from
// elsewhere) is told apart by its identity.
func TestPondImageOfAnotherDatabase(t *testing.T) {
	ctx := context.Background()
	a, b := newFixture(t), newFixture(t)
	for _, f := range []*fixture{a, b} {
		f.customers(5, 2)
	}
	va, _ := a.db.PondVersion(ctx)
	vb, _ := b.db.PondVersion(ctx)
	if va != vb {
		t.Fatalf("versions %d and %d: the test needs them equal", va, vb)
	}
	e := a.engine()
	if err := e.Warm(ctx); err != nil {
		t.Fatal(err)
	}
	if err := e.SavePondImage(ctx); err != nil {
		t.Fatal(err)
	}
	img, err := os.ReadFile(a.db.ImagePath())
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(b.db.ImagePath(), img, 0o600); err != nil {
		t.Fatal(err)
	}
	// b differs from a behind the version's back: which one a load read
	// shows.
	if _, err := b.db.SQL().Exec(`UPDATE customers SET name = 'b' WHERE id = 'c001'`); err != nil {
		t.Fatal(err)
	}
	p, err := b.db.LoadPond(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if i, _ := p.Lookup("c001"); p.Customers[i].Name != "b" {
		t.Error("b's load read a's pond image")
	}
	if _, err := os.Stat(b.db.ImagePath()); !os.IsNotExist(err) {
		t.Errorf("the other database's image is still there: %v", err)
	}
}

// A pond loaded from the tables, like one read from its image, is a few
// heap objects a customer however unique their ids, names and attr values
// (see profile's TestImagePondIsFewObjects for why).
func TestTablePondIsFewObjects(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	const n = 20_000
	var cs []domain.Customer
	for i := range n {
		cs = append(cs, domain.Customer{ID: "customer-" + strconv.Itoa(i), Name: "name-" + strconv.Itoa(i), JoinedAt: t0.Add(-day),
			Attrs: map[string]any{"member_no": "m-" + strconv.Itoa(i), "city": []string{"上海", "北京"}[i%2]}})
	}
	if err := f.db.UpsertCustomers(ctx, cs, t0); err != nil {
		t.Fatal(err)
	}
	objects := func() uint64 {
		var ms runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&ms)
		return ms.HeapObjects
	}
	before := objects()
	p, err := f.db.LoadPond(ctx)
	if err != nil {
		t.Fatal(err)
	}
	after := objects()
	perCustomer := float64(after-min(before, after)) / n
	runtime.KeepAlive(p)
	i, ok := p.Lookup("customer-19999")
	if !ok {
		t.Fatal("the last customer is missing")
	}
	if c := p.Customers[i]; c.Name != "name-19999" {
		t.Fatalf("last customer named %q", c.Name)
	}
	if v, _ := p.Customers[i].Attrs.Get("member_no"); v != "m-19999" {
		t.Fatalf("last customer's member_no %v", v)
	}
	if perCustomer > 1.5 {
		t.Errorf("%.2f heap objects a customer", perCustomer)
	}
}
