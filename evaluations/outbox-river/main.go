// Command outbox-river measures riverqueue/river with its SQLite driver
// (riversqlite, on modernc.org/sqlite) as koi's outbox would use it:
// messages inserted in one transaction, then worked by posting each to a
// webhook receiver on loopback. It is a separate module so that river
// stays out of koi's dependencies; see README.md for the figures and the
// decision.
//
//	go run . -jobs 20000                     # throughput
//	go run . -kill 20 -jobs 3000             # SIGKILL the worker 20 times
package main

import (
	"bytes"
	"context"
	"database/sql"
	"flag"
	"fmt"
	"io"
	"log"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riversqlite"
	"github.com/riverqueue/river/rivermigrate"
	_ "modernc.org/sqlite"
)

// MessageArgs is one message to post.
type MessageArgs struct {
	Key  string `json:"key"`
	Text string `json:"text"`
}

// Kind names the job kind.
func (MessageArgs) Kind() string { return "message" }

// MessageWorker posts a message to the receiver.
type MessageWorker struct {
	river.WorkerDefaults[MessageArgs]
	URL    string
	Client *http.Client
}

// Work posts one message.
func (w *MessageWorker) Work(ctx context.Context, job *river.Job[MessageArgs]) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.URL, bytes.NewReader([]byte(job.Args.Text)))
	if err != nil {
		return err
	}
	req.Header.Set("Idempotency-Key", job.Args.Key)
	resp, err := w.Client.Do(req)
	if err != nil {
		return err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode >= 300 {
		return fmt.Errorf("status %d", resp.StatusCode)
	}
	return nil
}

func open(path string, conns int) (*sql.DB, error) {
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=journal_mode(WAL)&_pragma=busy_timeout(10000)&_pragma=synchronous(NORMAL)")
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(conns)
	return db, nil
}

func client(db *sql.DB, url string, workers int) (*river.Client[*sql.Tx], error) {
	ws := river.NewWorkers()
	river.AddWorker(ws, &MessageWorker{URL: url, Client: &http.Client{}})
	return river.NewClient(riversqlite.New(db), &river.Config{
		Queues:            map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: workers}},
		Workers:           ws,
		FetchCooldown:     5 * time.Millisecond,
		FetchPollInterval: 50 * time.Millisecond,
		// Crashed attempts stay "running" until rescued; the default is an hour.
		RescueStuckJobsAfter: 10 * time.Second,
		JobTimeout:           10 * time.Second,
		Logger:               nil,
	})
}

func migrate(ctx context.Context, db *sql.DB) error {
	m, err := rivermigrate.New(riversqlite.New(db), nil)
	if err != nil {
		return err
	}
	_, err = m.Migrate(ctx, rivermigrate.DirectionUp, nil)
	return err
}

func insert(ctx context.Context, db *sql.DB, c *river.Client[*sql.Tx], n, from int) (time.Duration, error) {
	start := time.Now()
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return 0, err
	}
	defer tx.Rollback()
	params := make([]river.InsertManyParams, n)
	for i := range params {
		params[i] = river.InsertManyParams{Args: MessageArgs{Key: fmt.Sprintf("k%07d", from+i), Text: "您好"},
			InsertOpts: &river.InsertOpts{MaxAttempts: 1000, UniqueOpts: river.UniqueOpts{ByArgs: true}}}
	}
	if _, err := c.InsertManyTx(ctx, tx, params); err != nil {
		return 0, err
	}
	return time.Since(start), tx.Commit()
}

func countState(ctx context.Context, db *sql.DB, state string) int {
	var n int
	if err := db.QueryRowContext(ctx, `SELECT count(*) FROM river_job WHERE state = ?`, state).Scan(&n); err != nil {
		log.Fatal(err)
	}
	return n
}

func main() {
	jobs := flag.Int("jobs", 20000, "messages")
	workers := flag.Int("workers", 16, "concurrent workers")
	conns := flag.Int("conns", 1, "connections in the pool (riversqlite recommends 1)")
	kills := flag.Int("kill", 0, "SIGKILL the worker process this many times")
	child := flag.String("child", "", "internal: work the database at this path, posting to -url")
	url := flag.String("url", "", "internal: the receiver")
	flag.Parse()
	ctx := context.Background()
	if *child != "" {
		runChild(ctx, *child, *url, *workers, *conns)
		return
	}
	var mu sync.Mutex
	got := map[string]int{}
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		got[r.Header.Get("Idempotency-Key")]++
		mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	defer rcv.Close()
	dir, _ := os.MkdirTemp("", "outbox-river")
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "river.db")
	db, err := open(path, *conns)
	if err != nil {
		log.Fatal(err)
	}
	if err := migrate(ctx, db); err != nil {
		log.Fatal("migrate: ", err)
	}
	c, err := client(db, rcv.URL, *workers)
	if err != nil {
		log.Fatal(err)
	}
	took, err := insert(ctx, db, c, *jobs, 0)
	if err != nil {
		log.Fatal("insert: ", err)
	}
	fmt.Printf("insert %d jobs in one transaction: %v (%.0f/s)\n", *jobs, took.Round(time.Millisecond), float64(*jobs)/took.Seconds())

	if *kills == 0 {
		start := time.Now()
		if err := c.Start(ctx); err != nil {
			log.Fatal(err)
		}
		for countState(ctx, db, "completed") < *jobs {
			time.Sleep(10 * time.Millisecond)
		}
		el := time.Since(start)
		_ = c.Stop(ctx)
		mu.Lock()
		fmt.Printf("worked %d jobs (%d received) with %d workers, %d conns: %v, %.0f deliveries/s\n", *jobs, len(got), *workers, *conns, el.Round(time.Millisecond), float64(*jobs)/el.Seconds())
		mu.Unlock()
		return
	}
	db.Close()
	self, _ := os.Executable()
	for i := range *kills {
		cmd := exec.Command(self, "-child", path, "-url", rcv.URL, "-workers", fmt.Sprint(*workers), "-conns", fmt.Sprint(*conns))
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			log.Fatal(err)
		}
		time.Sleep(time.Duration(100+rand.IntN(400)) * time.Millisecond)
		cmd.Process.Kill()
		cmd.Wait()
		mu.Lock()
		fmt.Printf("kill %2d: received %d distinct\n", i, len(got))
		mu.Unlock()
	}
	start := time.Now()
	cmd := exec.Command(self, "-child", path, "-url", rcv.URL, "-workers", fmt.Sprint(*workers), "-conns", fmt.Sprint(*conns))
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		log.Fatal(err)
	}
	db, _ = open(path, 1)
	for countState(ctx, db, "completed") < *jobs {
		if time.Since(start) > 3*time.Minute {
			fmt.Printf("gave up: %d completed, %d running\n", countState(ctx, db, "completed"), countState(ctx, db, "running"))
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	cmd.Process.Kill()
	cmd.Wait()
	mu.Lock()
	total := 0
	for _, n := range got {
		total += n
	}
	fmt.Printf("after restarts: %d of %d completed in %v; received %d distinct, %d total (%d repeats)\n",
		countState(ctx, db, "completed"), *jobs, time.Since(start).Round(time.Millisecond), len(got), total, total-len(got))
	mu.Unlock()
}

func runChild(ctx context.Context, path, url string, workers, conns int) {
	db, err := open(path, conns)
	if err != nil {
		log.Fatal(err)
	}
	c, err := client(db, url, workers)
	if err != nil {
		log.Fatal(err)
	}
	if err := c.Start(ctx); err != nil {
		log.Fatal(err)
	}
	select {}
}
