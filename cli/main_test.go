package cli

import (
	"bytes"
	"database/sql"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/koihq/koi/engine/domain"

	"github.com/koihq/koi/engine/sqlite"
)

// koiBin is the koi binary built once for the end-to-end tests, which run
// it as a real process the way a user or a cron job does. It is built as
// shipped, without test hooks; hookedKoi builds the one with them.
var koiBin string

// binDir holds the binaries the tests build.
var binDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "koi-e2e")
	if err != nil {
		panic(err)
	}
	binDir = dir
	koiBin = filepath.Join(dir, "koi")
	build := exec.Command("go", "build", "-o", koiBin, "../cmd/koi")
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		panic(err)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

type result struct {
	stdout, stderr string
	code           int
}

// koi runs the binary in the repository root (so examples/ resolves).
func koi(t *testing.T, env []string, args ...string) result {
	t.Helper()
	cmd := exec.Command(koiBin, args...)
	cmd.Dir = ".."
	cmd.Env = append(os.Environ(), env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return result{out.String(), errb.String(), code}
}

func mustKoi(t *testing.T, args ...string) result {
	t.Helper()
	r := koi(t, nil, args...)
	if r.code != 0 {
		t.Fatalf("koi %v: exit %d\n%s%s", args, r.code, r.stdout, r.stderr)
	}
	return r
}

func query(t *testing.T, db, q string, args ...any) int {
	t.Helper()
	d, err := sql.Open("sqlite", sqlite.DSN(db))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	var n int
	if err := d.QueryRow(q, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return n
}

func queryStrings(t *testing.T, db, q string) []string {
	t.Helper()
	d, err := sql.Open("sqlite", sqlite.DSN(db))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	rows, err := d.Query(q)
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			t.Fatal(err)
		}
		out = append(out, s)
	}
	return out
}

const at = "2026-06-18T10:00:00+08:00"

func TestDemoRunAndRerun(t *testing.T) {
	db := filepath.Join(t.TempDir(), "koi.db")
	r := mustKoi(t, "--db", db, "demo", "--customers", "2000", "--seed", "7", "--at", "2026-06-18")
	if !strings.Contains(r.stdout, "2000 customers") || !strings.Contains(r.stdout, "2 mini-program sign-ups merged into their customers by phone") {
		t.Errorf("demo said: %s", r.stdout)
	}
	// The demo's customers have several identities, and two merges
	// happened: each sign-up's order is now its customer's.
	if n := query(t, db, `SELECT count(*) FROM (SELECT customer_id FROM identities GROUP BY customer_id HAVING count(*) >= 3)`); n < 500 {
		t.Errorf("%d demo customers with three identities or more", n)
	}
	r = mustKoi(t, "--db", db, "merges", "--json")
	var merges []domain.Merge
	if err := json.Unmarshal([]byte(r.stdout), &merges); err != nil || len(merges) != 2 || merges[0].Moved["events"] != 1 {
		t.Fatalf("merges: %v\n%s", err, r.stdout)
	}
	for _, m := range merges {
		if n := query(t, db, `SELECT count(*) FROM events WHERE customer_id = ? AND order_id LIKE 'mp-o%'`, m.Survivor); n != 1 {
			t.Errorf("%s has %d mini-program orders after merging %s, want 1", m.Survivor, n, m.Merged)
		}
	}
	mustKoi(t, "--db", db, "check", "examples/playbooks")

	dry := mustKoi(t, "--db", db, "run", "--at", at, "--dry-run", "--json")
	var dryRep, rep, again runReport
	if err := json.Unmarshal([]byte(dry.stdout), &dryRep); err != nil {
		t.Fatalf("dry run JSON: %v\n%s", err, dry.stdout)
	}
	if n := query(t, db, `SELECT count(*) FROM fires`) + query(t, db, `SELECT count(*) FROM runs`); n != 0 {
		t.Fatalf("--dry-run wrote %d rows", n)
	}
	r = mustKoi(t, "--db", db, "run", "--at", at, "--json")
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		t.Fatal(err)
	}
	if rep.Fired == 0 || rep.Matched < rep.Fired || len(rep.Playbooks) != 11 {
		t.Fatalf("run: fired %d matched %d playbooks %d", rep.Fired, rep.Matched, len(rep.Playbooks))
	}
	if rep.Fired != dryRep.Fired || rep.Matched != dryRep.Matched {
		t.Errorf("dry run predicted %d/%d, the run did %d/%d", dryRep.Matched, dryRep.Fired, rep.Matched, rep.Fired)
	}
	if n := query(t, db, `SELECT count(*) FROM fires WHERE status = 'fired'`); n != rep.Fired {
		t.Errorf("fires table has %d, the report says %d", n, rep.Fired)
	}
	// What the first run changed (vip-tier moves lapsed VIPs to gold after
	// member-day ran) must not make a second run at the same moment fire:
	// member day's rules share a benefit group, so the gold voucher's rule
	// knows the VIP one fired.
	r = mustKoi(t, "--db", db, "run", "--at", at, "--json")
	if err := json.Unmarshal([]byte(r.stdout), &again); err != nil {
		t.Fatal(err)
	}
	if again.Fired != 0 {
		for _, p := range again.Playbooks {
			for _, c := range p.Rules {
				if c.Fired > 0 {
					t.Errorf("%s/%s fired %d", p.Name, c.Rule, c.Fired)
				}
			}
		}
		t.Errorf("running a second time at the same moment fired %d", again.Fired)
	}
	if n := query(t, db, `SELECT count(*) FROM (SELECT customer_id FROM fires WHERE grp = 'member-day-voucher' GROUP BY customer_id HAVING count(*) > 1)`); n != 0 {
		t.Errorf("%d customers got two member-day vouchers", n)
	}
	// Named playbooks only, human output.
	r = mustKoi(t, "--db", db, "run", "member-day", "--at", "2026-07-18T10:00:00+08:00")
	if !strings.Contains(r.stdout, "member-day-normal") || strings.Contains(r.stdout, "rfm-care") {
		t.Errorf("run member-day printed:\n%s", r.stdout)
	}
	if r := koi(t, nil, "--db", db, "run", "no-such-playbook"); r.code != exitFailed || !strings.Contains(r.stderr, "no playbook named") {
		t.Errorf("unknown playbook: exit %d %s", r.code, r.stderr)
	}
}

func TestCheckReportsFileLineCol(t *testing.T) {
	r := koi(t, nil, "check", "rules/testdata/actions.bad.yaml", "rules/testdata/unknown-key.bad.yaml")
	if r.code != exitFailed {
		t.Errorf("exit %d, want %d", r.code, exitFailed)
	}
	for _, want := range []string{
		`rules/testdata/actions.bad.yaml:8:27: rule r1: coupon: amount: must be a positive amount in yuan, got -5`,
		`rules/testdata/unknown-key.bad.yaml:2:1: playbook: unknown key "schedul"`,
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("missing %q in:\n%s", want, r.stdout)
		}
	}
	if r := koi(t, nil, "check", "examples/playbooks"); r.code != 0 || !strings.Contains(r.stdout, "ok: 11 playbooks valid") {
		t.Errorf("examples: exit %d %s%s", r.code, r.stdout, r.stderr)
	}
}

func TestBlastGuardExitCode(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "koi.db")
	mustKoi(t, "--db", db, "demo", "--customers", "300", "--at", "2026-06-18")
	pb := "name: all\nlimits: { max_fires: 10 }\nrules:\n  - id: everyone\n    when: \"true\"\n    once: true\n    actions:\n      - tag: { add: [x] }\n"
	if err := os.WriteFile(filepath.Join(dir, "all.yaml"), []byte(pb), 0o644); err != nil {
		t.Fatal(err)
	}
	r := koi(t, nil, "--db", db, "run", "--playbooks", dir, "--at", at)
	if r.code != exitHeld || !strings.Contains(r.stdout, "held by the blast guard") {
		t.Errorf("exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if n := query(t, db, `SELECT count(*) FROM fires`); n != 0 {
		t.Errorf("held run wrote %d fires", n)
	}
}

func TestImportReportsBadLinesAndKeepsGoodOnes(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "koi.db")
	customers := filepath.Join(dir, "customers.jsonl")
	write(t, customers, `{"id":"u1","name":"王芳","tier":"gold","tags":["直播间"],"member":true,"joined_at":"2025-01-02T00:00:00+08:00","birthday":"06-25","attrs":{"city":"上海"}}
{"id":"u2","member":"yes"}
{"id":"u3","favourite":"tea"}

{"id":"","name":"nobody"}
{"id":"u4","birthday":"1990-13-45"}
{"id":"u5"}
{"id":"u6","tier":"diamond"}
{"id":"u7","phone":"call me"}
{"id":"u8","email":"not-an-address"}
`)
	r := koi(t, nil, "--db", db, "import", "customers", customers)
	if r.code != exitPartial {
		t.Errorf("exit %d, want %d", r.code, exitPartial)
	}
	for _, want := range []string{
		customers + ":2: member: want true or false",
		customers + `:3: favourite: unknown field`,
		customers + ":5: id: is required",
		customers + `:6: birthday: "1990-13-45" is not MM-DD or YYYY-MM-DD`,
		customers + `:8: tier: unknown tier "diamond" (configured tiers, lowest first: normal, silver, gold, vip)`,
		customers + `:9: phone: "call me" is not a phone number`,
		customers + `:10: email: "not-an-address" is not an email address`,
	} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, r.stderr)
		}
	}
	if !strings.Contains(r.stdout, "imported 2 of 9 customers") || !strings.Contains(r.stdout, "good lines were kept") {
		t.Errorf("stdout: %s", r.stdout)
	}
	// A customer without a tier has the lowest configured one, not "".
	if got := queryStrings(t, db, `SELECT tier FROM customers ORDER BY id`); strings.Join(got, ",") != "gold,normal" {
		t.Errorf("tiers stored: %v, want gold (given) and normal (the lowest)", got)
	}
	csvCustomers := filepath.Join(dir, "customers.csv")
	write(t, csvCustomers, "id,tier,member\nc1,vip,true\nc2,platinum,false\nc3,,yes\n")
	r = koi(t, nil, "--db", filepath.Join(dir, "csv.db"), "import", "customers", csvCustomers)
	if r.code != exitPartial || !strings.Contains(r.stderr, csvCustomers+`:3: tier: unknown tier "platinum"`) || !strings.Contains(r.stdout, "imported 2 of 3") {
		t.Errorf("csv import: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	events := filepath.Join(dir, "events.csv")
	write(t, events, `id,customer_id,type,amount,at,order_id,attrs.channel
e1,u1,order,199.90,2026-05-01T10:00:00+08:00,o1,小程序
e2,u1,refund,50,2026-05-03T10:00:00+08:00,o1,
e3,nobody,order,10,2026-05-01T10:00:00+08:00,,
e4,u5,order,abc,2026-05-01T10:00:00+08:00,,
e5,u5,visit,,yesterday,,
e6,u5,refund,10,2026-05-01T10:00:00+08:00,,
e7,u5,visit,,2026-05-01,,
`)
	r = koi(t, nil, "--db", db, "import", "events", events)
	for _, want := range []string{
		events + `:4: customer_id: unknown customer "nobody"`,
		events + `:5: amount: "abc" is not a number of yuan`,
		events + `:6: at: "yesterday" is not RFC 3339`,
		events + `:7: order_id: a refund must name the order it refunds`,
	} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, r.stderr)
		}
	}
	if r.code != exitPartial || !strings.Contains(r.stdout, "imported 3 of 7 events") {
		t.Errorf("exit %d: %s", r.code, r.stdout)
	}
	// Importing again is idempotent.
	r = koi(t, nil, "--db", db, "import", "events", events)
	if !strings.Contains(r.stdout, "3 already present") || query(t, db, `SELECT count(*) FROM events`) != 3 {
		t.Errorf("re-import: %s", r.stdout)
	}
	if n := query(t, db, `SELECT amount_fen FROM events WHERE id = 'e1'`); n != 19990 {
		t.Errorf("199.90 yuan stored as %d fen", n)
	}
	// Export: the refund nets out, the attribute comes through.
	r = mustKoi(t, "--db", db, "export", "--at", "2026-06-01T00:00:00+08:00", "--where", `attrs.city == "上海"`)
	var p map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &p); err != nil {
		t.Fatalf("export: %v\n%s", err, r.stdout)
	}
	if p["id"] != "u1" || p["spend"] != 149.9 || p["orders"] != 1.0 || p["recency_days"] != 30.0 || p["lifecycle"] != "purchased" {
		t.Errorf("exported profile: %v", p)
	}
	if rfm, _ := p["rfm"].(map[string]any); rfm == nil || rfm["segment"] == "" {
		t.Errorf("rfm: %v", p["rfm"])
	}
	r = mustKoi(t, "--db", db, "export", "--format", "csv")
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[0], "id,name,tier,tags,attrs,guide,member,joined_days,recency_days") || !strings.Contains(lines[0], "rfm_segment") {
		t.Errorf("csv export:\n%s", r.stdout)
	}
	if r := koi(t, nil, "--db", db, "export", "--where", "recency > 3"); r.code != exitUsage || !strings.Contains(r.stderr, "--where") {
		t.Errorf("bad --where: exit %d %s", r.code, r.stderr)
	}
}

// TestKillMidRunFiresNothingTwice kills `koi run` with SIGKILL after some
// batches of fires have committed, runs it again, and checks that every
// customer got exactly one fire and one coupon.
func TestKillMidRunFiresNothingTwice(t *testing.T) {
	db := filepath.Join(t.TempDir(), "koi.db")
	mustKoi(t, "--db", db, "demo", "--customers", "1500", "--at", "2026-06-18")
	members := query(t, db, `SELECT count(*) FROM customers WHERE member = 1`)

	cmd := exec.Command(hookedKoi(t), "--db", db, "run", "member-day", "--at", at, "--batch-size", "50")
	cmd.Dir = ".."
	cmd.Env = append(os.Environ(), "KOI_TEST_BATCH_PAUSE=150ms")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for query(t, db, `SELECT count(*) FROM fires`) < 100 {
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatal("no fires committed within 30s")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	before := query(t, db, `SELECT count(*) FROM fires`)
	if before >= members {
		t.Fatalf("the run finished (%d fires) before it was killed; the test proves nothing", before)
	}
	r := mustKoi(t, "--db", db, "run", "member-day", "--at", at, "--json")
	var rep runReport
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		t.Fatal(err)
	}
	if rep.Fired != members-before {
		t.Errorf("the re-run fired %d, want the %d that were missing", rep.Fired, members-before)
	}
	for q, want := range map[string]int{
		`SELECT count(*) FROM fires`:                    members,
		`SELECT count(DISTINCT customer_id) FROM fires`: members,
		`SELECT count(*) FROM coupons`:                  members,
		`SELECT count(*) FROM (SELECT customer_id FROM coupons GROUP BY customer_id HAVING count(*) > 1)`: 0,
		`SELECT count(*) FROM runs WHERE status = 'interrupted'`:                                          1,
		`SELECT count(*) FROM runs WHERE status = 'done'`:                                                 1,
	} {
		if got := query(t, db, q); got != want {
			t.Errorf("%s = %d, want %d", q, got, want)
		}
	}
	t.Logf("killed after %d of %d fires; the re-run fired the rest", before, members)
}

func write(t *testing.T, path, body string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestGCTargetDefaultsLowAndYieldsToGOGC(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(100))
	old, had := os.LookupEnv("GOGC")
	defer func() {
		if had {
			os.Setenv("GOGC", old)
		} else {
			os.Unsetenv("GOGC")
		}
	}()
	os.Unsetenv("GOGC")
	debug.SetGCPercent(100)
	tuneGC()
	if got := debug.SetGCPercent(100); got != defaultGOGC {
		t.Errorf("GOGC unset: GC percent %d, want %d", got, defaultGOGC)
	}
	os.Setenv("GOGC", "100")
	tuneGC()
	if got := debug.SetGCPercent(100); got != 100 {
		t.Errorf("GOGC=100 in the environment: GC percent %d, want it left at 100", got)
	}
}

// JSONL imports name identities: customers add theirs, events name their
// customer by one; an identity nobody has rejects its line alone, and one
// of another customer rejects the customer's line.
func TestImportByIdentity(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "koi.db")
	customers := filepath.Join(dir, "customers.jsonl")
	write(t, customers, `{"id":"u1","identities":[{"kind":"phone","value":"138 0013 8000"},{"kind":"member_no","value":"M-1"}]}
{"id":"u2","identities":[{"kind":"phone","value":"+86 13800138000"}]}
`)
	r := koi(t, nil, "--db", db, "import", "customers", customers)
	if r.code != 0 || !strings.Contains(r.stderr, "merged customer u2 into u1 (both have phone +8613800138000)") || !strings.Contains(r.stdout, "1 merge") {
		t.Fatalf("customers: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	events := filepath.Join(dir, "events.jsonl")
	write(t, events, `{"id":"o1","identity":{"kind":"phone","value":"13800138000"},"type":"order","amount":50,"at":"2026-05-01T10:00:00+08:00"}
{"id":"o2","identity":{"kind":"member_no","value":"M-1"},"type":"order","amount":60,"at":"2026-05-02T10:00:00+08:00"}
{"id":"o3","identity":{"kind":"unionid","value":"nobody"},"type":"order","amount":70,"at":"2026-05-03T10:00:00+08:00"}
`)
	r = koi(t, nil, "--db", db, "import", "events", events)
	if r.code != exitPartial || !strings.Contains(r.stderr, events+":3: identity: no customer has unionid nobody") {
		t.Fatalf("events: exit %d\n%s", r.code, r.stderr)
	}
	if n := query(t, db, `SELECT count(*) FROM events WHERE customer_id = 'u1'`); n != 2 {
		t.Errorf("u1 has %d events, want the two keyed by identity", n)
	}
	if n := query(t, db, `SELECT count(*) FROM customers WHERE id = 'u2'`); n != 0 {
		t.Error("the customer merged into u1 is still there")
	}
	if n := query(t, db, `SELECT count(*) FROM customer_aliases WHERE alias = 'u2' AND customer_id = 'u1'`); n != 1 {
		t.Error("u2 is not an alias of u1")
	}
	// Lines naming their customer by identities alone.
	more := filepath.Join(dir, "more.jsonl")
	write(t, more, `{"identities":[{"kind":"member_no","value":"M-1"}],"tags":["store"]}
{"identities":[{"kind":"unionid","value":"oU9"}],"name":"新客"}
`)
	mustKoi(t, "--db", db, "import", "customers", more)
	if n := query(t, db, `SELECT count(*) FROM customers WHERE (id = 'u1' AND tags = '["store"]') OR id = 'unionid:oU9'`); n != 2 {
		t.Errorf("the lines by identity: %d of u1 tagged and unionid:oU9 new", n)
	}
	r = mustKoi(t, "--db", db, "merges")
	if !strings.Contains(r.stdout, "u2      u1    phone +8613800138000  import customers.jsonl") {
		t.Errorf("koi merges:\n%s", r.stdout)
	}
	r = mustKoi(t, "--db", db, "merges", "--customer", "u2", "--json")
	var ms []domain.Merge
	if err := json.Unmarshal([]byte(r.stdout), &ms); err != nil || len(ms) != 1 || ms[0].Survivor != "u1" || ms[0].Moved["events"] != 0 {
		t.Errorf("koi merges --customer u2 --json: %v\n%s", err, r.stdout)
	}
}

// koi export --ids writes an audience's identities in the forms ad
// platforms take, and nothing else: a mainland phone hashed as its 11
// digits, another with its country code; a customer with none of the
// forms is left out; the counts go to standard error.
func TestExportIdentities(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "koi.db")
	customers := filepath.Join(dir, "customers.jsonl")
	write(t, customers, `{"id":"u1","member":true,"name":"李雷","identities":[{"kind":"phone","value":"138 0013 8000"},{"kind":"unionid","value":"oU1"}]}
{"id":"u2","member":true,"identities":[{"kind":"phone","value":"+852 5123 4567"}]}
{"id":"u3","member":true,"identities":[{"kind":"member_no","value":"M3"}]}
{"id":"u4","member":false,"identities":[{"kind":"phone","value":"13900139000"}]}
`)
	mustKoi(t, "--db", db, "import", "customers", customers)
	r := mustKoi(t, "--db", db, "export", "--audience", "member", "--ids", "phone_md5,phone_sha256,unionid", "--format", "csv")
	want := "phone_md5,phone_sha256,unionid\n" +
		"7945bd83237335e5376ff44d62e4f0ae,a6942f9771d67f34034d2f1926988ed3fad3bf1b4e7cedb9a31f31398dea43bc,oU1\n" +
		"f042165811244b3c59fe785b87e9d858,"
	if !strings.HasPrefix(r.stdout, want) || strings.Count(r.stdout, "\n") != 3 || strings.Contains(r.stdout, "李雷") || strings.Contains(r.stdout, "u1") {
		t.Errorf("export:\n%s", r.stdout)
	}
	if !strings.Contains(r.stderr, "2 of the audience's 3 customers exported (phone_md5 2, phone_sha256 2, unionid 1)") {
		t.Errorf("counts: %s", r.stderr)
	}
	if r := koi(t, nil, "--db", db, "export", "--ids", "phone,qq"); r.code != exitUsage || !strings.Contains(r.stderr, `"phone" is not an id form`) {
		t.Errorf("a bad form: exit %d %s", r.code, r.stderr)
	}
}
