package profile_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/koihq/koi/engine/domain"
	"github.com/koihq/koi/engine/profile"
)

// writeImage writes p's image to a file in a test directory.
func writeImage(t *testing.T, p *profile.Pond) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "koi.db.pond")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.View().WriteImage(f, [16]byte{1, 2, 3}); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

func readImage(path string) (*profile.Pond, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	p, origin, err := profile.ReadImage(f, st.Size())
	if err == nil && origin != [16]byte{1, 2, 3} {
		return nil, fmt.Errorf("origin %x", origin)
	}
	return p, err
}

// A pond read back from its image is the pond: every profile at any
// moment, every event and coupon.
func TestImageRoundTrip(t *testing.T) {
	defer profile.SetImageChunk(64)() // many sections, decoded in parallel
	p := randomPond(500, 3)
	p.Version = 42
	i := p.PutCustomer(domain.Customer{ID: "with-nested", JoinedAt: now.Add(-day), Attrs: map[string]any{"prefs": map[string]any{"color": "red"}, "list": []any{1.0, "a"}}, OptOut: []string{"sms"}})
	p.AddContact(i, now.Add(-2*day), "wecom")
	p.RemoveCustomer("c7") // removed customers are not written, as a load would not see them

	back, err := readImage(writeImage(t, p))
	if err != nil {
		t.Fatal(err)
	}
	if back.Version != 42 || back.Len() != p.Len()-1 {
		t.Fatalf("version %d, %d customers; want 42 and %d", back.Version, back.Len(), p.Len()-1)
	}
	if _, ok := back.Lookup("c7"); ok {
		t.Error("a removed customer came back")
	}
	for _, at := range []time.Time{now, now.Add(-30 * day), now.Add(400 * day)} {
		a, b := profile.ComputeSnapshot(p, at, profile.ProfileConfig{}), profile.ComputeSnapshot(back, at, profile.ProfileConfig{})
		for k := range p.Len() {
			c := p.Customers[k]
			j, ok := back.Lookup(c.ID)
			if !ok {
				continue
			}
			want, got := a.Profile(k).Values(), b.Profile(j).Values()
			if !reflect.DeepEqual(want, got) {
				t.Fatalf("%s at %v:\n got %v\nwant %v", c.ID, at, got, want)
			}
			if want, got := p.RecentEvents(k, 1000), back.RecentEvents(j, 1000); !reflect.DeepEqual(want, got) {
				t.Fatalf("%s: events %v, want %v", c.ID, got, want)
			}
			if got, want := profile.OptOutOf(b.Profile(j)), profile.OptOutOf(a.Profile(k)); !reflect.DeepEqual(got, want) {
				t.Fatalf("%s: opt-out %v, want %v", c.ID, got, want)
			}
		}
	}
	// count() reads event types by name: they came back too.
	j, _ := back.Lookup("c1")
	k, _ := p.Lookup("c1")
	if got, want := profile.ComputeSnapshot(back, now, profile.ProfileConfig{}).Profile(j).CountEvents("visit", "3650d"), profile.ComputeSnapshot(p, now, profile.ProfileConfig{}).Profile(k).CountEvents("visit", "3650d"); got != want {
		t.Errorf("count(visit): %d, want %d", got, want)
	}
}

// A damaged image is refused, never half read: any flipped byte, a cut
// file, another file altogether.
func TestImageDamageIsRefused(t *testing.T) {
	defer profile.SetImageChunk(16)()
	p := randomPond(50, 5)
	path := writeImage(t, p)
	good, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	damaged := map[string][]byte{
		"empty":     {},
		"cut":       good[:len(good)/2],
		"longer":    append(append([]byte{}, good...), 0),
		"not-image": []byte("SQLite format 3\x00 and so on, long enough for a header"),
	}
	// Every byte of the header (the version above all: a flipped one
	// would pass the image off as another state), and some of the body.
	for at := range 60 {
		b := append([]byte{}, good...)
		b[at] ^= 0x40
		damaged["flip"+strconv.Itoa(at)] = b
	}
	for _, at := range []int{len(good) / 3, len(good) / 2, len(good) - 1} {
		b := append([]byte{}, good...)
		b[at] ^= 0x01
		damaged["flip"+strconv.Itoa(at)] = b
	}
	for name, b := range damaged {
		if err := os.WriteFile(path, b, 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := readImage(path); !errors.Is(err, profile.ErrImageInvalid) {
			t.Errorf("%s: %v, want ErrImageInvalid", name, err)
		}
	}
}

// A pond read from its image is a few heap objects a customer, however
// unique their ids, names and attr values: every object costs each
// garbage collection a visit, and at a million customers five of them
// each made a collection take 0.2 s of CPU from whatever ran.
func TestImagePondIsFewObjects(t *testing.T) {
	const n = 20_000
	p := profile.NewPond()
	for i := range n {
		p.PutCustomer(domain.Customer{ID: "customer-" + strconv.Itoa(i), Name: "name-" + strconv.Itoa(i), JoinedAt: now.Add(-day),
			Attrs: map[string]any{"member_no": "m-" + strconv.Itoa(i), "city": []string{"上海", "北京"}[i%2], "kids": float64(i % 3)}})
	}
	path := writeImage(t, p)
	objects := func() uint64 {
		var ms runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&ms)
		return ms.HeapObjects
	}
	before := objects()
	back, err := readImage(path)
	if err != nil {
		t.Fatal(err)
	}
	after := objects()
	perCustomer := float64(after-min(before, after)) / n
	runtime.KeepAlive(back)
	if back.Len() != n {
		t.Fatalf("%d customers read back", back.Len())
	}
	c := back.Customers[n-1]
	if v, _ := c.Attrs.Get("member_no"); c.ID != "customer-19999" || c.Name != "name-19999" || v != "m-19999" {
		t.Fatalf("last customer %q %q %v", c.ID, c.Name, v)
	}
	// Each own value's interface header is an object of its own; the
	// rest is carved from chunks.
	if perCustomer > 1.5 {
		t.Errorf("%.2f heap objects a customer", perCustomer)
	}
}
