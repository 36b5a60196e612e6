package socket

import (
	"strings"
	"sync"
	"sync/atomic"
)

// index holds the socket's plugins by base name, the name before any
// "@version", for the paths that run on every call or every poll: lookup,
// Connected, PluginInfo and Stats. It has the same remotes as
// Socket.plugins, live ones and names reserved mid-handshake, and changes
// with it, under Socket.mu; readers take no lock of the socket's.
//
// At 20,000 plugins, one mutex for both made a console's poll of
// Connected(true) hold up every call for as long as it took to copy all
// the infos (118 ms), and a call to a missing name scanned every plugin
// (4.2 ms). Here a call finds its plugin in one map lookup and scans only
// the versions of its own name, and a listing walks the map while calls
// go on.
//
// A family, the remotes that share a base name, is never changed once
// published: a connect or a disconnect stores a new one, copying only the
// few versions of that one name, so that filling the socket costs O(1)
// per plugin rather than a copy of the whole index.
type index struct {
	families sync.Map     // base name → *family
	n        atomic.Int64 // remotes in the index
}

// family is the remotes that hold one base name: the plugin that has it
// and those assigned base@version beside it.
type family struct{ members []*remote }

// baseName is addr without its "@version"; plugin names contain no '@'
// (internal/names).
func baseName(addr string) string {
	base, _, _ := strings.Cut(addr, "@")
	return base
}

// add puts r, whose info is set, in the index. Socket.mu must be held.
func (x *index) add(r *remote) {
	base := baseName(r.info.Name)
	var members []*remote
	if f, ok := x.families.Load(base); ok {
		members = f.(*family).members
	}
	x.families.Store(base, &family{members: append(members[:len(members):len(members)], r)})
	x.n.Add(1)
}

// remove takes r out of the index, if it is there. Socket.mu must be held.
func (x *index) remove(r *remote) {
	base := baseName(r.info.Name)
	f, ok := x.families.Load(base)
	if !ok {
		return
	}
	old := f.(*family).members
	i := -1
	for j, m := range old {
		if m == r {
			i = j
			break
		}
	}
	switch {
	case i < 0:
		return
	case len(old) == 1:
		x.families.Delete(base)
	default:
		members := make([]*remote, 0, len(old)-1)
		members = append(append(members, old[:i]...), old[i+1:]...)
		x.families.Store(base, &family{members: members})
	}
	x.n.Add(-1)
}

// family returns the remotes whose base name is base, which the caller
// must not change; nil when there are none.
func (x *index) family(base string) []*remote {
	if f, ok := x.families.Load(base); ok {
		return f.(*family).members
	}
	return nil
}

// each calls fn for every remote in the index, live or not, until fn
// returns false. Remotes added or removed meanwhile may or may not be
// seen; none is seen twice.
func (x *index) each(fn func(r *remote) bool) {
	x.families.Range(func(_, f any) bool {
		for _, r := range f.(*family).members {
			if !fn(r) {
				return false
			}
		}
		return true
	})
}

// len is about how many remotes the index holds: exact when no plugin
// connects or leaves meanwhile.
func (x *index) len() int { return int(x.n.Load()) }

// resolve returns the live plugin an address reaches, or nil, by the
// rules in versions.go.
func (x *index) resolve(addr string) *remote {
	base, version, pinned := strings.Cut(addr, "@")
	members := x.family(base)
	for _, r := range members {
		if r.info.Name == addr && r.state.live() {
			return r
		}
	}
	var best *remote
	for _, r := range members {
		switch {
		case !r.state.callable():
		case pinned:
			if r.info.Version == version {
				return r
			}
		case best == nil:
			best = r
		default:
			if c := compareVersions(r.info.Version, best.info.Version); c > 0 || c == 0 && r.info.Name < best.info.Name {
				best = r
			}
		}
	}
	return best
}
