package admin

import (
	"embed"
	"io/fs"
	"net/http"
)

// The console is plain HTML, CSS and JavaScript with no build step. It
// talks to the API routes like any other client and loads nothing from
// elsewhere.
//
//go:embed console
var consoleFiles embed.FS

// consolePolicy keeps the console to its own origin: no inline script, no
// third-party anything.
const consolePolicy = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

func (a *Server) consoleRoutes(m *http.ServeMux, handle func(string, map[string]http.HandlerFunc)) {
	files, err := fs.Sub(consoleFiles, "console")
	if err != nil {
		panic(err) // the embedded tree is fixed at build time
	}
	assets := http.StripPrefix("/assets/", http.FileServerFS(files))
	withPolicy := func(h http.Handler) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Security-Policy", consolePolicy)
			w.Header().Set("Cache-Control", "no-cache")
			h.ServeHTTP(w, r)
		}
	}
	handle("/{$}", map[string]http.HandlerFunc{http.MethodGet: withPolicy(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.ServeFileFS(w, r, files, "index.html")
	}))})
	handle("/assets/", map[string]http.HandlerFunc{http.MethodGet: withPolicy(assets)})
	m.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		a.fail(w, r, http.StatusNotFound, 0, "not found: "+r.URL.Path+"; the console is at / and the API under /api/")
	})
}
