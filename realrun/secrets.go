package realrun

import (
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/redis/go-redis/v9"
)

// mask stands for a secret: the same mask url.URL.Redacted and pgx print.
const mask = "xxxxx"

// minSecret is the shortest secret that is also hidden wherever else it
// occurs: shorter ones would blank out ordinary words. Shorter passwords are
// still hidden where a connection string puts them.
const minSecret = 3

// spaces are the blanks of libpq's keyword/value syntax.
const spaces = " \t\n\r\v\f"

// Redact returns s with every password replaced by "xxxxx", in every form
// pgx v5, go-redis v9, amqp091-go and nats.go accept: URL userinfo
// (amqp:// and amqps:// included), password-like URL query parameters (pgx
// takes password and sslpassword, percent-encoded keys included), libpq
// keyword/value pairs (quoted or not, with blanks around "="; flags and
// environment settings such as IDEMSIM_KAFKA_SASL_PASSWORD=... read the
// same way), NATS tokens (a nats://, tls://, ws:// or wss:// userinfo
// without ":") in nats.go's comma-separated server lists, with or without
// schemes, and NATS nkey seeds and JWTs, such as a credentials file holds.
// s may be a setting or any text that embeds settings, such as a driver's
// error message; the rest stays readable so that a message still says which
// server was tried. A value that was found as a password is also hidden
// wherever else it occurs.
//
// A secret given on its own, such as a Kafka SASL password from
// IDEMSIM_KAFKA_SASL_PASSWORD, has no form to be found by: hide it with
// Scrubber.WithSecrets.
func Redact(s string) string {
	f := find(s)
	return hideAll(f.masked(s), f.secrets)
}

// StripPassword returns the setting s with its passwords removed, for a
// command line a user can paste. It returns "" when it cannot tell for sure
// that the result holds no secret, so that the caller leaves the flag out.
// A NATS server list loses its passwords and tokens, server by server.
func StripPassword(s string) string {
	var out string
	var ok bool
	_, keywords := keywordPairs(s)
	switch {
	case isNATSList(s) && !keywords:
		out, ok = stripNATS(s)
	case hostPortList(s):
		out, ok = s, true // a Kafka seed list: nothing secret in it
	case schemeAtStart(s):
		out, ok = stripURL(s)
	default:
		out, ok = stripKeywords(s)
	}
	// Belt and braces: nothing password-like may survive, not even a
	// password that a quirk of the syntax repeats elsewhere in s.
	if !ok || Redact(out) != out || hideAll(out, find(s).secrets) != out {
		return ""
	}
	return out
}

// Scrubber hides the secrets of some settings in arbitrary text, such as a
// driver's error message that quotes pieces of a connection string. It does
// not change once made, so goroutines may share it.
type Scrubber struct {
	secrets []string
}

// NewScrubber returns a Scrubber for the secrets of settings: those Redact
// finds, and those the drivers themselves extract, which include a password
// pgx takes from PGPASSWORD or a password file, amqp091's password and
// nats.go's passwords and tokens.
func NewScrubber(settings ...string) *Scrubber {
	var found []string
	for _, s := range settings {
		if s == "" {
			continue
		}
		found = append(found, find(s).secrets...)
		if c, err := pgconn.ParseConfig(s); err == nil {
			found = append(found, c.Password)
		}
		if o, err := redis.ParseURL(s); err == nil {
			found = append(found, o.Password)
		}
		if u, err := amqp.ParseURI(s); err == nil {
			found = append(found, u.Password)
		}
		found = append(found, natsSecrets(s)...)
	}
	return (&Scrubber{}).WithSecrets(found...)
}

// WithSecrets returns a Scrubber that hides, besides s's secrets, each of
// secrets in every spelling a message may use: a password or token given on
// its own, outside any URL (a Kafka SASL password, a NATS token or user
// password set by option). Secrets shorter than three bytes are not hidden
// outside the forms Redact finds, as they would blank out ordinary words.
// s may be nil.
func (s *Scrubber) WithSecrets(secrets ...string) *Scrubber {
	sc := &Scrubber{}
	if s != nil {
		sc.secrets = slices.Clone(s.secrets)
	}
	for _, p := range secrets {
		if len(p) >= minSecret {
			sc.secrets = append(sc.secrets, spellings(p)...)
		}
	}
	return sc
}

// Scrub returns text with every secret of s, in every spelling a message may
// use, replaced by "xxxxx", and then redacted. A nil Scrubber only redacts.
func (s *Scrubber) Scrub(text string) string {
	if s == nil {
		return Redact(text)
	}
	// Hide the secrets again after Redact, whose masks could complete one.
	return hideAll(Redact(hideAll(text, s.secrets)), s.secrets)
}

// Error returns err with a scrubbed message; it still unwraps to err, so
// errors.Is and errors.As see through it.
func (s *Scrubber) Error(err error) error {
	if err == nil {
		return nil
	}
	return &scrubbedError{msg: s.Scrub(err.Error()), err: err}
}

type scrubbedError struct {
	msg string
	err error
}

func (e *scrubbedError) Error() string { return e.msg }
func (e *scrubbedError) Unwrap() error { return e.err }

// spellings are the forms p takes in messages: raw, URL-escaped, Go-quoted
// (%q) and libpq-quoted, and its pieces between the characters at which
// net/url and pgx cut a malformed URL short ("#" in a password makes
// go-redis quote only what comes before it).
func spellings(p string) []string {
	quoted := strconv.Quote(p)
	out := []string{
		p,
		url.QueryEscape(p),
		url.PathEscape(p),
		strings.TrimPrefix(url.UserPassword("", p).String(), ":"),
		quoted[1 : len(quoted)-1],
		strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(p),
	}
	pieces := strings.FieldsFunc(p, func(r rune) bool { return strings.ContainsRune("#/?@"+spaces, r) })
	return append(out, pieces...)
}

// span is a half-open range of bytes of a text.
type span struct{ start, end int }

// findings are where a text's secrets sit, and their values in every
// spelling a driver could decode them to.
type findings struct {
	spans   []span
	secrets []string
}

func (f *findings) hide(start, end int, values ...string) {
	if end > start {
		f.spans = append(f.spans, span{start, end})
		f.secrets = append(f.secrets, values...)
	}
}

// masked returns s with each (merged) span replaced by the mask.
func (f *findings) masked(s string) string {
	slices.SortFunc(f.spans, func(a, b span) int { return a.start - b.start })
	var b strings.Builder
	at := 0
	for _, sp := range f.spans {
		if sp.end <= at {
			continue
		}
		if sp.start >= at {
			b.WriteString(s[at:sp.start])
			b.WriteString(mask)
		}
		at = sp.end
	}
	b.WriteString(s[at:])
	return b.String()
}

// find locates the secrets of s: in each URL (anything after "scheme://"),
// and in each keyword=value pair whose keyword names a secret.
func find(s string) findings {
	var f findings
	var urls []span
	for from := 0; ; {
		i := strings.Index(s[from:], "://")
		if i < 0 {
			break
		}
		i += from
		from = i + 3
		start := i
		for start > 0 && isSchemeByte(s[start-1]) {
			start--
		}
		if start == i {
			continue
		}
		end := urlEnd(s, start, from)
		if inside(urls, start) {
			// A URL within another (in a query value, or a message that
			// starts with a URL) ends at the next one: this keeps the work
			// linear on a string of many URLs.
			if next := strings.Index(s[from:end], "://"); next >= 0 {
				end = from + next
			}
		}
		urls = append(urls, span{start, end})
		if natsScheme(s[start:i]) {
			// nats.go splits its list at commas before it parses a
			// URL: read each server on its own.
			f.inNATS(s, from, end)
		} else {
			f.inURL(s, from, end)
		}
	}
	// A NATS server list, some servers without schemes
	// ("token@host:4222,nats://u:p@h2"): nats.go puts "nats://" before
	// those.
	if isNATSList(s) {
		f.inNATS(s, 0, len(s))
	}
	// NATS nkey seeds and JWTs, as a credentials file holds them: a seed
	// signs for its user, and a bearer JWT alone logs in.
	for _, re := range []*regexp.Regexp{nkeySeed, jwtToken} {
		for _, loc := range re.FindAllStringIndex(s, -1) {
			f.hide(loc[0], loc[1], s[loc[0]:loc[1]])
		}
	}
	// pgx reads anything that is not a postgres:// URL as keyword/value
	// pairs: read it so too, exactly, since a loose reading can be fooled by
	// quotes ("host='password=' password=secret").
	if !strings.HasPrefix(s, "postgres://") && !strings.HasPrefix(s, "postgresql://") {
		pairs, _ := keywordPairs(s)
		for _, p := range pairs {
			if secretKey(p.key) {
				f.hide(p.start, p.end, s[p.start:p.end], unquote(s[p.start:p.end]))
			}
		}
	}
	// And loosely, for pairs quoted in a message.
	f.inKeywords(s, urls)
	return f
}

// nkeySeed matches a NATS nkey seed: "S", the key type (account, cluster,
// operator, server, user, curve), then base32, 58 characters in all.
var nkeySeed = regexp.MustCompile(`S[ACNOPUX][A-Z2-7]{54,}`)

// jwtToken matches a JSON Web Token: three base64url parts, the first a
// JSON object ("eyJ" is "{\"" encoded).
var jwtToken = regexp.MustCompile(`eyJ[A-Za-z0-9_-]{2,}\.[A-Za-z0-9_-]{2,}\.[A-Za-z0-9_-]*`)

// natsScheme reports whether scheme is one nats.go takes for a server,
// whose userinfo without ":" is a token.
func natsScheme(scheme string) bool {
	switch strings.ToLower(scheme) {
	case "nats", "tls", "ws", "wss":
		return true
	}
	return false
}

// isNATSList reports whether the setting s reads as a NATS server list:
// servers separated by commas (blanks around them allowed, as nats.go trims
// them), each a nats:// (tls://, ws://, wss://) URL or a host with no
// scheme, which nats.go reads as nats://, with no blank before its path,
// and at least one with a scheme or a userinfo. A keyword=value string may
// read so too ("password=a@b"): Redact then hides what either reading calls
// a secret.
func isNATSList(s string) bool {
	marked := false
	for _, piece := range strings.Split(s, ",") {
		piece = strings.Trim(piece, spaces)
		if piece == "" {
			continue // nats.go tries it, and finds no server there
		}
		if i := strings.Index(piece, "://"); i >= 0 {
			if !natsScheme(piece[:i]) {
				return false
			}
			piece = piece[i+3:]
			marked = true
		}
		auth := piece
		if i := strings.IndexAny(auth, "/?#"); i >= 0 {
			auth = auth[:i]
		}
		if strings.ContainsAny(auth, spaces) {
			return false // text, not a server: net/url takes no blank there
		}
		if strings.Contains(auth, "@") {
			marked = true
		}
	}
	return marked
}

// inNATS finds the passwords and tokens of the servers of the NATS list
// s[p:end], as nats.go reads them: it splits the list at commas, and a
// server's userinfo is a token when it holds no ":".
func (f *findings) inNATS(s string, p, end int) {
	at := p
	for _, piece := range strings.Split(s[p:end], ",") {
		start := at
		at += len(piece) + 1
		if i := strings.Index(piece, "://"); i >= 0 {
			start += i + 3
			piece = piece[i+3:]
		}
		auth := piece
		if i := strings.IndexAny(auth, "/?#"); i >= 0 {
			auth = auth[:i]
		}
		sep := strings.LastIndexByte(auth, '@')
		if sep < 0 {
			continue
		}
		from := 0
		if c := strings.IndexByte(auth[:sep], ':'); c >= 0 {
			from = c + 1 // user:password
		}
		f.hide(start+from, start+sep, urlValue(piece[from:sep])...)
	}
}

// natsSecrets returns the passwords and tokens nats.go takes from the
// server list s: each server, with "nats://" put before it when it has no
// scheme, parsed by net/url.
func natsSecrets(s string) []string {
	var out []string
	for _, piece := range strings.Split(s, ",") {
		piece = strings.TrimSpace(piece)
		if !strings.Contains(piece, "://") {
			piece = "nats://" + piece
		}
		u, err := url.Parse(piece)
		if err != nil || !natsScheme(u.Scheme) || u.User == nil {
			continue
		}
		if pass, ok := u.User.Password(); ok {
			out = append(out, pass)
		} else {
			out = append(out, u.User.Username())
		}
	}
	return out
}

// hostPortList reports whether s is a bare host:port list, such as
// IDEMSIM_KAFKA_BROKERS takes.
func hostPortList(s string) bool {
	return s != "" && !strings.ContainsAny(s, "@=/?#'\\\x00"+spaces) && validHostPorts(s)
}

// stripNATS removes the userinfo of each server of the NATS server list s:
// a user left without a password would be read as a token. false if a
// server holds an "@" that nats.go would read differently.
func stripNATS(s string) (string, bool) {
	pieces := strings.Split(s, ",")
	for i, piece := range pieces {
		piece = strings.Trim(piece, spaces)
		head := ""
		if j := strings.Index(piece, "://"); j >= 0 {
			head, piece = piece[:j+3], piece[j+3:]
		}
		auth, rest := piece, ""
		if j := strings.IndexAny(piece, "/?#"); j >= 0 {
			auth, rest = piece[:j], piece[j:]
		}
		if sep := strings.LastIndexByte(auth, '@'); sep >= 0 {
			auth = auth[sep+1:]
		}
		if strings.Contains(rest, "@") {
			return "", false // a userinfo nats.go would read differently
		}
		pieces[i] = head + auth + rest
	}
	return strings.Join(pieces, ","), true
}

// urlEnd returns where the URL whose scheme starts at start ends: at the end
// of s if s is the URL, at the closing quote if it is quoted in a message,
// else at the next blank.
func urlEnd(s string, start, from int) int {
	if start == 0 {
		return len(s)
	}
	q := s[start-1]
	quoted := q == '"' || q == '\'' || q == '`'
	for j := from; j < len(s); j++ {
		switch {
		case q == '"' && s[j] == '\\':
			j++ // %q escapes its quotes
		case quoted && s[j] == q, !quoted && isSpace(s[j]):
			return j
		}
	}
	return len(s)
}

// inURL finds the secrets of the URL s[p:end], p just after "://".
func (f *findings) inURL(s string, p, end int) {
	e := s[p:end]
	if a, b, guessed := passwordAt(e); b > 0 {
		f.hide(p+a, p+b, urlValue(e[a:b])...)
		if !guessed {
			// The drivers may end the userinfo earlier than passwordAt:
			// pgx at the first "@", net/url before a "?" or "#".
			a, b := userinfoPassword(e, "/", false)
			f.secrets = append(f.secrets, urlValue(e[a:b])...)
			a, b = userinfoPassword(e, "/?#", true)
			f.secrets = append(f.secrets, urlValue(e[a:b])...)
		}
	}
	// A query parameter's key runs back from its "=" to a "?" or "&": a real
	// key holds neither, and pgx's query starts at some "?" (after the
	// userinfo and a bracketed host, which may hold "?" and "="). Its value
	// runs on to the next "&": pgx knows no fragment.
	stop := -1
	for i := 0; i < len(e); i++ {
		if e[i] != '=' {
			continue
		}
		k := strings.LastIndexAny(e[:i], "?&=")
		if k < 0 || e[k] == '=' || !secretKey(e[k+1:i]) {
			continue
		}
		if stop < i {
			stop = len(e)
			if j := strings.IndexByte(e[i:], '&'); j >= 0 {
				stop = i + j
			}
		}
		f.hide(p+i+1, p+stop, urlValue(e[i+1:stop])...)
	}
}

// passwordAt returns where the userinfo password of e (a URL after "://")
// sits, taking the widest reading of pgx and net/url: the userinfo ends at
// the last "@" before the first "/". A malformed URL whose password holds a
// "/" (neither driver accepts it, but go-redis quotes it in its error) is
// guessed: from the first ":" to the last "@" if what precedes is no valid
// host:port list. b is 0 if there is no password.
func passwordAt(e string) (a, b int, guessed bool) {
	if a, b := userinfoPassword(e, "/", true); b > 0 {
		return a, b, false
	}
	end := strings.IndexAny(e, "/?#")
	if end < 0 {
		end = len(e)
	}
	from := strings.LastIndexByte(e[:end], '@') + 1
	auth := e[from:end]
	colon := strings.IndexByte(auth, ':')
	at := strings.LastIndexByte(e, '@')
	if colon < 0 || at <= from+colon || validHostPorts(auth) {
		return 0, 0, false
	}
	return from + colon + 1, at, true
}

// userinfoPassword returns where the userinfo password of e sits when the
// authority ends at the first of stops and the userinfo at its first or last
// "@". b is 0 if there is none.
func userinfoPassword(e, stops string, last bool) (a, b int) {
	auth := e
	if i := strings.IndexAny(e, stops); i >= 0 {
		auth = e[:i]
	}
	at := strings.IndexByte(auth, '@')
	if last {
		at = strings.LastIndexByte(auth, '@')
	}
	if at < 0 {
		return 0, 0
	}
	colon := strings.IndexByte(auth[:at], ':')
	if colon < 0 {
		return 0, 0
	}
	return colon + 1, at
}

// validHostPorts reports whether auth is a host[:port] list, as pgx takes.
func validHostPorts(auth string) bool {
	for _, hp := range strings.Split(auth, ",") {
		if strings.HasPrefix(hp, "[") {
			i := strings.IndexByte(hp, ']')
			if i < 0 {
				return false
			}
			hp = hp[i+1:]
		} else if i := strings.IndexByte(hp, ':'); i >= 0 {
			hp = hp[i:]
		} else {
			continue
		}
		if hp != "" && (hp[0] != ':' || strings.Trim(hp[1:], "0123456789") != "") {
			return false
		}
	}
	return true
}

// urlValue returns raw's spellings as a driver decodes them: pgx trims
// blanks and percent-decodes, net/url's query also reads "+" as a blank.
func urlValue(raw string) []string {
	t := strings.Trim(raw, " ")
	return []string{raw, t, percentDecode(raw), percentDecode(t), percentDecode(strings.ReplaceAll(t, "+", " "))}
}

// inKeywords hides the values of secret keyword=value pairs, read by libpq's
// rules. Inside a URL only a keyword after a blank or a quote counts: there
// the query parameters are url's business.
func (f *findings) inKeywords(s string, urls []span) {
	for i := 0; i < len(s); i++ {
		if s[i] != '=' {
			continue
		}
		k := i
		for k > 0 && isSpace(s[k-1]) {
			k--
		}
		keyEnd := k
		for k > 0 && isKeyByte(s[k-1]) {
			k--
		}
		if !secretKey(s[k:keyEnd]) {
			continue
		}
		if inside(urls, i) && k > 0 && !isSpace(s[k-1]) && s[k-1] != '\'' {
			continue
		}
		start := skipSpaces(s, i+1)
		end, _ := valueEnd(s, start)
		f.hide(start, end, s[start:end], unquote(s[start:end]))
		i = max(i, end-1)
	}
}

// valueEnd returns where the libpq value starting at s[i] ends, and false if
// it is a quoted one that is never closed.
func valueEnd(s string, i int) (int, bool) {
	if i < len(s) && s[i] == '\'' {
		for j := i + 1; j < len(s); j++ {
			if s[j] == '\\' {
				j++
			} else if s[j] == '\'' {
				return j + 1, true
			}
		}
		return len(s), false
	}
	for i < len(s) && !isSpace(s[i]) {
		if s[i] == '\\' {
			i++ // an escaped blank belongs to the value
		}
		i++
	}
	return min(i, len(s)), true
}

// unquote returns the libpq value raw means: quotes and backslashes removed.
func unquote(raw string) string {
	if strings.HasPrefix(raw, "'") {
		raw = strings.TrimSuffix(raw[1:], "'")
	}
	var b strings.Builder
	for i := 0; i < len(raw); i++ {
		if raw[i] == '\\' {
			i++ // a backslash at the very end escapes nothing, and goes
			if i == len(raw) {
				break
			}
		}
		b.WriteByte(raw[i])
	}
	return b.String()
}

// stripURL removes the userinfo password and the secret query parameters
// of the URL s; false if the password's place was only guessed.
func stripURL(s string) (string, bool) {
	p := strings.Index(s, "://") + 3
	head, rest := s[:p], s[p:]
	if a, b, guessed := passwordAt(rest); guessed {
		return "", false
	} else if b > 0 {
		if user := rest[:a-1]; user != "" {
			head += user + "@"
		}
		rest = rest[b+1:]
	}
	hostPath, query, hasQuery := strings.Cut(rest, "?")
	var kept []string
	for _, pair := range strings.Split(query, "&") {
		if k, _, _ := strings.Cut(pair, "="); !secretKey(k) {
			kept = append(kept, pair)
		}
	}
	out := head + hostPath
	if hasQuery && len(kept) > 0 {
		out += "?" + strings.Join(kept, "&")
	}
	return out, true
}

// stripKeywords drops the secret pairs of the keyword/value string s;
// false if s is not such a string.
func stripKeywords(s string) (string, bool) {
	pairs, ok := keywordPairs(s)
	if !ok || strings.IndexByte(s, 0) >= 0 {
		return "", false
	}
	var kept []string
	for _, p := range pairs {
		value := s[p.start:p.end]
		// Requote a value that would run into the next pair once joined.
		if value == "" || (value[0] != '\'' && strings.HasSuffix(value, `\`)) {
			value = "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(unquote(value)) + "'"
		}
		if !secretKey(p.key) {
			kept = append(kept, p.key+"="+value)
		}
	}
	return strings.Join(kept, " "), true
}

// pair is a keyword and where its value sits.
type pair struct {
	key        string
	start, end int
}

// keywordPairs reads s by libpq's keyword/value rules, as pgx does. ok is
// false if s is no such string; the pairs read until the fault, an unclosed
// quoted value included, are returned all the same.
func keywordPairs(s string) (pairs []pair, ok bool) {
	i := skipSpaces(s, 0)
	for i < len(s) {
		eq := strings.IndexByte(s[i:], '=')
		if eq < 0 {
			return pairs, false
		}
		key := strings.Trim(s[i:i+eq], spaces)
		if key == "" || strings.ContainsAny(key, spaces) {
			return pairs, false
		}
		start := skipSpaces(s, i+eq+1)
		end, closed := valueEnd(s, start)
		pairs = append(pairs, pair{key, start, end})
		if !closed {
			return pairs, false
		}
		i = skipSpaces(s, end)
	}
	return pairs, len(pairs) > 0
}

func skipSpaces(s string, i int) int {
	for i < len(s) && isSpace(s[i]) {
		i++
	}
	return i
}

// hideAll replaces every secret of at least minSecret bytes in text by the
// mask, until none is left: a mask can complete a secret with its
// neighbours. A secret of nothing but "x" is left alone, as the mask itself
// would spell it; every other pass removes a byte that is not "x", so the
// loop ends.
func hideAll(text string, secrets []string) string {
	var todo []string
	for _, s := range secrets {
		if len(s) >= minSecret && strings.Trim(s, "x") != "" {
			todo = append(todo, s)
		}
	}
	// Longest first, so that a secret is not half hidden by a part of it.
	slices.SortFunc(todo, func(a, b string) int {
		if len(a) != len(b) {
			return len(b) - len(a)
		}
		return strings.Compare(a, b)
	})
	todo = slices.Compact(todo)
	for again := true; again; {
		again = false
		for _, s := range todo {
			if strings.Contains(text, s) {
				text = strings.ReplaceAll(text, s, mask)
				again = true
			}
		}
	}
	return text
}

// secretKey reports whether a parameter or keyword name names a secret;
// it matches more than the drivers' "password" and "sslpassword", in any
// case, because hiding too much is harmless here.
func secretKey(k string) bool {
	k = strings.ToLower(percentDecode(k))
	for _, w := range []string{"password", "passwd", "pwd", "secret", "token"} {
		if strings.Contains(k, w) {
			return true
		}
	}
	return false
}

// percentDecode decodes the valid %XX escapes of s and keeps the rest, as
// pgx's lenient decoder does.
func percentDecode(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '%' && i+2 < len(s) {
			if v, err := strconv.ParseUint(s[i+1:i+3], 16, 8); err == nil {
				b.WriteByte(byte(v))
				i += 2
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func schemeAtStart(s string) bool {
	i := strings.Index(s, "://")
	return i > 0 && strings.IndexFunc(s[:i], func(r rune) bool { return r > 127 || !isSchemeByte(byte(r)) }) < 0
}

func inside(spans []span, i int) bool {
	for _, sp := range spans {
		if i >= sp.start && i < sp.end {
			return true
		}
	}
	return false
}

func isSpace(c byte) bool { return strings.IndexByte(spaces, c) >= 0 }

func isAlnum(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
}

func isSchemeByte(c byte) bool { return isAlnum(c) || c == '+' || c == '-' || c == '.' }

func isKeyByte(c byte) bool { return isAlnum(c) || c == '_' || c == '%' }
