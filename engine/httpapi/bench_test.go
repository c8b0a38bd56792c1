package httpapi_test

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"sync/atomic"
	"testing"

	"github.com/koihq/koi/engine/httpapi"
)

// BenchmarkPostEventBatch measures ingest over HTTP on loopback: batches
// of 1,000 events of 1,000 customers, JSON decoded, stored durably and
// answered per event. Against BenchmarkAddEvents (engine/sqlite) it shows
// what HTTP and JSON add per event.
func BenchmarkPostEventBatch(b *testing.B) {
	const customers, batch = 1000, 1000
	a := newAPI(b, httpapi.Config{})
	seedCustomers(b, a, customers)
	b.ReportAllocs()
	for n := 0; b.Loop(); n++ {
		if err := post(a, n, batch, customers); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/batch, "ns/event")
}

// BenchmarkPostEventBatchTwoClients is BenchmarkPostEventBatch with two
// clients sending at once: one batch's JSON is decoded while another's
// transaction commits.
func BenchmarkPostEventBatchTwoClients(b *testing.B) {
	const customers, batch = 1000, 1000
	a := newAPI(b, httpapi.Config{})
	seedCustomers(b, a, customers)
	var seq atomic.Int64
	b.ReportAllocs()
	b.SetParallelism(1)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := post(a, int(seq.Add(1)), batch, customers); err != nil {
				b.Error(err) // not Fatal: this is not the benchmark's goroutine
				return
			}
		}
	})
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/batch, "ns/event")
}

// seedCustomers stores customers c0000 .. through the API.
func seedCustomers(b *testing.B, a *api, n int) {
	for i := 0; i < n; i++ {
		if st, body := a.do("PUT", fmt.Sprintf("/api/v1/customers/c%04d", i), ingestKey, `{}`); st != 200 {
			b.Fatalf("customer %d: %d %v", i, st, body)
		}
	}
}

// post sends batch n of events and checks the reply.
func post(a *api, n, batch, customers int) error {
	var body bytes.Buffer
	{
		body.WriteString(`{"events": [`)
		for i := 0; i < batch; i++ {
			if i > 0 {
				body.WriteByte(',')
			}
			fmt.Fprintf(&body, `{"id": "b%d-%d", "customer_id": "c%04d", "type": "visit", "at": "2026-05-01T10:00:00+08:00"}`, n, i, (n*batch+i)%customers)
		}
		body.WriteString(`]}`)
		req, _ := http.NewRequest("POST", a.url+"/api/v1/events/batch", &body)
		req.Header.Set("Authorization", "Bearer "+ingestKey)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			return fmt.Errorf("batch %d: status %d", n, resp.StatusCode)
		}
	}
	return nil
}
