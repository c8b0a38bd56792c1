package actions

import "net/http"

// NewHTTPClient returns the client channels share (OpenContext.HTTPClient):
// http.DefaultTransport's settings, except that it keeps up to conns idle
// connections to each host (at least 64). The default keeps two: a
// dispatcher with 16 deliveries in flight to one webhook would open a new
// connection for most of them, spending its time dialing and leaving
// thousands of sockets in TIME_WAIT at a few thousand deliveries a second.
func NewHTTPClient(conns int) *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConnsPerHost = max(conns, 64)
	t.MaxIdleConns = max(t.MaxIdleConns, 4*t.MaxIdleConnsPerHost)
	return &http.Client{Transport: t}
}
