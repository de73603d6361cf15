package redact

import "regexp"

// Mask replaces each secret.
const Mask = "xxxxx"

var (
	// userinfo is the user:password@ (or token@) between a URL's scheme and its host.
	userinfo = regexp.MustCompile(`([A-Za-z][A-Za-z0-9+.\-]*://)[^/?#@\s"'<>]+@`)
	// secretQuery is a query parameter whose value is a credential or a signature.
	secretQuery = regexp.MustCompile(`(?i)([?&](?:x-amz-signature|x-amz-credential|x-amz-security-token|access_token|token|password|passwd|secret|sig|signature|api_key|apikey|key)=)[^&#\s"'<>]*`)
)

// String returns s with the credentials of every URL in it masked: the whole user
// information (user and password) and the values of secret query parameters. Text without
// URLs is returned as it is.
func String(s string) string {
	if !containsURL(s) {
		return s
	}
	s = userinfo.ReplaceAllString(s, "${1}"+Mask+"@")
	return secretQuery.ReplaceAllString(s, "${1}"+Mask)
}

// containsURL is a fast check that spares most strings the regular expressions.
func containsURL(s string) bool {
	for i := 0; i+2 < len(s); i++ {
		if s[i] == ':' && s[i+1] == '/' && s[i+2] == '/' {
			return true
		}
	}
	return false
}
