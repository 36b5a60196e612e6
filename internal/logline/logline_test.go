package logline

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Lines written by the real handlers, not by hand.
func TestParseSlogHandlersOutput(t *testing.T) {
	for name, newHandler := range map[string]func(*bytes.Buffer) slog.Handler{
		"json": func(b *bytes.Buffer) slog.Handler {
			return slog.NewJSONHandler(b, &slog.HandlerOptions{Level: slog.LevelDebug})
		},
		"text": func(b *bytes.Buffer) slog.Handler {
			return slog.NewTextHandler(b, &slog.HandlerOptions{Level: slog.LevelDebug})
		},
	} {
		t.Run(name, func(t *testing.T) {
			var b bytes.Buffer
			log := slog.New(newHandler(&b))
			log.Warn("disk almost full", "free", 12, "path", "/var/lib/x y", "ok", false)
			log.Debug("tick")
			log.Error("it broke", "err", `quote "inside"`)
			lines := strings.Split(strings.TrimSpace(b.String()), "\n")
			require.Len(t, lines, 3)

			l, ok := Parse(lines[0])
			require.True(t, ok, lines[0])
			assert.Equal(t, slog.LevelWarn, l.Level)
			assert.Equal(t, "disk almost full", l.Msg)
			got := map[string]string{}
			for _, a := range l.Attrs {
				got[a.Key] = a.Value.String()
			}
			assert.Equal(t, map[string]string{"free": "12", "path": "/var/lib/x y", "ok": "false"}, got)

			l, ok = Parse(lines[1])
			require.True(t, ok)
			assert.Equal(t, slog.LevelDebug, l.Level)
			l, ok = Parse(lines[2])
			require.True(t, ok)
			assert.Equal(t, slog.LevelError, l.Level)
			assert.Equal(t, `quote "inside"`, l.Attrs[0].Value.String())
		})
	}
}

func TestParseOtherFormats(t *testing.T) {
	for line, want := range map[string]Line{
		`{"@level":"warn","@message":"slow disk","@module":"calc","@timestamp":"2024-01-01T00:00:00.000000Z","ms":900}`: {
			Level: slog.LevelWarn, Msg: "slow disk", Attrs: []slog.Attr{slog.String("module", "calc"), slog.Int64("ms", 900)}},
		`2024-01-01T00:00:00.000Z [ERROR] calc: cannot open: path=/x`: {Level: slog.LevelError, Msg: "calc: cannot open: path=/x"},
		`[DEBUG] plugin: starting`:                                    {Level: slog.LevelDebug, Msg: "plugin: starting"},
		`E! [inputs.cpu] cannot read /proc/stat`:                      {Level: slog.LevelError, Msg: "[inputs.cpu] cannot read /proc/stat"},
		`2024-05-01T10:00:00Z W! [agent] buffer full`:                 {Level: slog.LevelWarn, Msg: "[agent] buffer full"},
		`I! Starting Kapacitor UDF`:                                   {Level: slog.LevelInfo, Msg: "Starting Kapacitor UDF"},
		`D! point received`:                                           {Level: slog.LevelDebug, Msg: "point received"},
		`time=2024-01-01T00:00:00Z level=WARN+2 msg="odd level"`:      {Level: slog.LevelWarn, Msg: "odd level"},
	} {
		got, ok := Parse(line)
		require.True(t, ok, line)
		assert.Equal(t, want, got, line)
	}
}

func TestPlainLinesStayPlain(t *testing.T) {
	for _, line := range []string{
		"", "hello world", "listening on 127.0.0.1:7700", `{"not":"a log"}`, `{"level":"WARN"}`,
		"E!", "[notalevel] x", "key=value only", `level=WARN msg="unterminated`, `{"level":"WARN","msg":"x"`,
		"a=b c=d", "Error! not a prefix",
	} {
		_, ok := Parse(line)
		assert.False(t, ok, "%q", line)
	}
}

func TestManyAttributesAreBounded(t *testing.T) {
	var b strings.Builder
	b.WriteString(`{"level":"INFO","msg":"m"`)
	for i := range 1000 {
		b.WriteString(`,"k` + strings.Repeat("x", i%5) + string(rune('a'+i%26)) + `":1`)
	}
	b.WriteString(`,"deep":` + strings.Repeat("[", 5000) + strings.Repeat("]", 5000) + `}`)
	l, ok := Parse(b.String())
	require.True(t, ok)
	assert.Len(t, l.Attrs, maxAttrs)
}

func FuzzParse(f *testing.F) {
	f.Add(`{"level":"WARN","msg":"x","a":{"b":[1,2]}}`)
	f.Add(`time=x level=INFO msg="a \"b\"" k=v`)
	f.Add(`E! x`)
	f.Add(`[WARN] x`)
	f.Fuzz(func(t *testing.T, line string) {
		l, ok := Parse(line)
		if !ok {
			return
		}
		assert.LessOrEqual(t, len(l.Attrs), maxAttrs)
	})
}
