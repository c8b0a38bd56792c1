package cli

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"time"
)

// benchConsolePages are the console pages the bench times: every page a
// marketer opens, with a search and a customer's explain among them.
var benchConsolePages = []string{
	"/", "/?window=365", "/playbooks", "/runs", "/customers?segment=important_value", "/customers?tag=%E7%9B%B4%E6%92%AD%E9%97%B4",
	"/customers/c0000001", "/customers/c0000001?explain=bench-rfm/winback", "/guides", "/outbox", "/editor?file=rfm.yaml",
}

var benchCSRF = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// consoleLatencies signs in to the server's console and times each page
// perRequests times, after one untimed visit that lets the pond page
// compute its figures (timed apart, as first). It returns every timed
// request's duration.
func consoleLatencies(ctx context.Context, root, secret string, perPage int) (samples []time.Duration, first time.Duration, err error) {
	jar, err := cookiejar.New(nil)
	if err != nil {
		return nil, 0, err
	}
	c := &http.Client{Jar: jar, Timeout: 2 * time.Minute,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	get := func(path string) (time.Duration, string, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, root+path, nil)
		if err != nil {
			return 0, "", err
		}
		start := time.Now()
		res, err := c.Do(req)
		if err != nil {
			return 0, "", err
		}
		defer res.Body.Close()
		b, err := io.ReadAll(res.Body)
		took := time.Since(start)
		if err != nil {
			return 0, "", err
		}
		if res.StatusCode != http.StatusOK {
			return 0, "", fmt.Errorf("console %s: %d", path, res.StatusCode)
		}
		return took, string(b), nil
	}
	_, form, err := get("/signin")
	if err != nil {
		return nil, 0, err
	}
	m := benchCSRF.FindStringSubmatch(form)
	if m == nil {
		return nil, 0, fmt.Errorf("console: no sign-in form")
	}
	res, err := c.PostForm(root+"/signin", url.Values{"csrf": {m[1]}, "key": {secret}})
	if err != nil {
		return nil, 0, err
	}
	res.Body.Close()
	if res.StatusCode != http.StatusSeeOther {
		return nil, 0, fmt.Errorf("console: signing in answered %d", res.StatusCode)
	}
	for _, p := range benchConsolePages {
		took, _, err := get(p)
		if err != nil {
			return nil, 0, err
		}
		if p == "/" {
			first = took
		}
	}
	for _, p := range benchConsolePages {
		for i := 0; i < perPage; i++ {
			took, _, err := get(p)
			if err != nil {
				return nil, 0, err
			}
			samples = append(samples, took)
		}
	}
	return samples, first, nil
}
