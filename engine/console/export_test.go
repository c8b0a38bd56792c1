package console

// Messages returns the texts of a language, for tests.
func Messages(lang string) map[string]string { return messages[lang] }
