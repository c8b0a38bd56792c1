package profile

// SetImageChunk makes pond images of n customers per section until the
// returned function restores the size.
func SetImageChunk(n int) (restore func()) {
	old := imageChunk
	imageChunk = n
	return func() { imageChunk = old }
}
