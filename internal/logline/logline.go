// Package logline reads the level, message and attributes of a log line
// a plugin process wrote, in the formats plugins write: log/slog's JSON and
// text handlers, hashicorp/go-hclog's JSON and its default text, and the
// E!, W!, I!, D! prefixes of Telegraf and Kapacitor. The host re-logs such a
// line at its own level, with its attributes, rather than every line at
// info.
//
// A line is hostile input: it is read in one pass, without recursion, and
// at most maxAttrs attributes are taken from it; a nested value is kept as
// its JSON text.
package logline

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"strings"

	"github.com/plugsock/plugsock/internal/jsonscan"
)

// maxAttrs bounds the attributes taken from one line; the rest are left
// out.
const maxAttrs = 32

// Line is what Parse read.
type Line struct {
	Level slog.Level
	Msg   string
	Attrs []slog.Attr
}

// Parse reads line. ok is false when line is in none of the formats, and
// should be logged as it is.
func Parse(line string) (l Line, ok bool) {
	s := strings.TrimSpace(line)
	if s == "" {
		return l, false
	}
	if s[0] == '{' {
		return parseJSON(s)
	}
	if l, ok := parsePrefix(s); ok {
		return l, true
	}
	if l, ok := parseHclogText(s); ok {
		return l, true
	}
	return parseSlogText(s)
}

// levelOf reads a level name as slog, hclog and the prefixes spell them.
func levelOf(name string) (slog.Level, bool) {
	switch strings.ToUpper(strings.TrimSpace(name)) {
	case "TRACE", "DEBUG", "DBUG", "D":
		return slog.LevelDebug, true
	case "INFO", "I":
		return slog.LevelInfo, true
	case "WARN", "WARNING", "W":
		return slog.LevelWarn, true
	case "ERROR", "ERR", "E", "FATAL", "PANIC", "CRIT", "CRITICAL":
		return slog.LevelError, true
	}
	// slog writes levels between the named ones as WARN+2, INFO-4...
	if i := strings.IndexAny(name, "+-"); i > 0 {
		if base, ok := levelOf(name[:i]); ok {
			return base, true
		}
	}
	return 0, false
}

// parseJSON reads slog's JSON ("level", "msg", "time") or hclog's
// ("@level", "@message", "@timestamp", "@module", "@caller").
func parseJSON(s string) (l Line, ok bool) {
	p := []byte(s)
	var level, msg bool
	_, valid := jsonscan.Members(p, 0, func(mb jsonscan.Member) bool {
		var key string
		if err := json.Unmarshal(p[mb.Key:mb.KeyEnd], &key); err != nil {
			return false
		}
		val := p[mb.Val:mb.End]
		switch key {
		case "level", "@level":
			if str, isStr := jsonString(val); isStr {
				l.Level, level = levelOf(str)
			}
			return true
		case "msg", "@message":
			if str, isStr := jsonString(val); isStr {
				l.Msg, msg = str, true
			}
			return true
		case "time", "@timestamp", "@caller":
			// The host stamps its own record; the plugin's time says
			// nothing new, and its caller is noise in the host's log.
			return true
		case "@module":
			key = "module"
		}
		if len(l.Attrs) < maxAttrs {
			l.Attrs = append(l.Attrs, attrOf(key, val))
		}
		return true
	})
	if !valid || !level || !msg {
		return Line{}, false
	}
	return l, true
}

func jsonString(val []byte) (string, bool) {
	if len(val) == 0 || val[0] != '"' {
		return "", false
	}
	var s string
	return s, json.Unmarshal(val, &s) == nil
}

// attrOf is an attribute from a JSON member: strings, numbers, booleans
// as themselves, anything else as its JSON text.
func attrOf(key string, val []byte) slog.Attr {
	switch {
	case len(val) > 0 && val[0] == '"':
		if s, ok := jsonString(val); ok {
			return slog.String(key, s)
		}
	case bytes.Equal(val, []byte("true")):
		return slog.Bool(key, true)
	case bytes.Equal(val, []byte("false")):
		return slog.Bool(key, false)
	case len(val) > 0 && (val[0] == '-' || val[0] >= '0' && val[0] <= '9'):
		var f float64
		if json.Unmarshal(val, &f) == nil {
			if i := int64(f); float64(i) == f && !bytes.ContainsAny(val, ".eE") {
				return slog.Int64(key, i)
			}
			return slog.Float64(key, f)
		}
	}
	return slog.String(key, string(val))
}

// parsePrefix reads "E! message", Telegraf's and Kapacitor's form, also
// after a timestamp: "2024-05-01T10:00:00Z E! [inputs.cpu] message".
func parsePrefix(s string) (Line, bool) {
	rest := s
	for range 2 { // the prefix, or a timestamp and then the prefix
		if len(rest) > 3 && rest[1] == '!' && rest[2] == ' ' {
			if lv, ok := levelOf(rest[:1]); ok {
				return Line{Level: lv, Msg: strings.TrimSpace(rest[2:])}, true
			}
		}
		i := strings.IndexByte(rest, ' ')
		if i < 0 {
			break
		}
		rest = rest[i+1:]
	}
	return Line{}, false
}

// parseHclogText reads hclog's default text: an optional timestamp, then
// "[WARN]", then "name: message: key=value ...", kept as the message.
func parseHclogText(s string) (Line, bool) {
	rest := s
	for range 2 {
		if len(rest) > 2 && rest[0] == '[' {
			if end := strings.IndexByte(rest, ']'); end > 1 {
				if lv, ok := levelOf(rest[1:end]); ok {
					return Line{Level: lv, Msg: strings.TrimSpace(rest[end+1:])}, true
				}
			}
			return Line{}, false
		}
		i := strings.IndexByte(rest, ' ')
		if i < 0 {
			break
		}
		rest = rest[i+1:]
	}
	return Line{}, false
}

// parseSlogText reads slog's text handler: key=value pairs, with level=
// and msg= among them, values quoted when they need to be.
func parseSlogText(s string) (l Line, ok bool) {
	var level, msg bool
	for i := 0; i < len(s); {
		for i < len(s) && s[i] == ' ' {
			i++
		}
		eq := strings.IndexByte(s[i:], '=')
		if eq <= 0 {
			return Line{}, false
		}
		key := s[i : i+eq]
		if strings.ContainsAny(key, " \"") {
			return Line{}, false
		}
		i += eq + 1
		var val string
		if i < len(s) && s[i] == '"' {
			end := i + 1
			for end < len(s) && s[end] != '"' {
				if s[end] == '\\' {
					end++
				}
				end++
			}
			if end >= len(s) {
				return Line{}, false
			}
			var err error
			if err = json.Unmarshal([]byte(s[i:end+1]), &val); err != nil {
				val = s[i+1 : end]
			}
			i = end + 1
		} else {
			end := strings.IndexByte(s[i:], ' ')
			if end < 0 {
				end = len(s) - i
			}
			val = s[i : i+end]
			i += end
		}
		switch key {
		case "level":
			l.Level, level = levelOf(val)
		case "msg":
			l.Msg, msg = val, true
		case "time":
		default:
			if len(l.Attrs) < maxAttrs {
				l.Attrs = append(l.Attrs, slog.String(key, val))
			}
		}
	}
	if !level || !msg {
		return Line{}, false
	}
	return l, true
}
