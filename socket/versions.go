package socket

import (
	"strconv"
	"strings"
)

// Several versions of one plugin may be connected at once. Every plugin
// still has a name of its own, unique on the socket: the first to connect
// gets the name it asked for, say "calc"; another version of it that
// connects while "calc" is taken is assigned "calc@2.0.0" (name@version)
// instead of being refused. Connected is keyed by these assigned names.
//
// Callers address a plugin by
//
//   - its assigned name, which always reaches that plugin;
//   - name@version, which reaches the connected plugin of that name and
//     version, whatever name it was assigned;
//   - the plain name, which reaches the plugin holding it, and when none
//     does (the first version has left), the highest version connected.
//
// So the plain name keeps reaching the plugin that has it, and a new
// version can be brought up beside a running one without taking its
// traffic: callers opt in with name@version, and once the old version is
// unplugged the plain name passes to the newest one still connected.

// versionedName decides whether a plugin asking for base, which is taken,
// is another version of the plugin holding it, and if so returns the name
// it is assigned. A version equal to one connected is a duplicate, not
// another version, and falls under the usual rules for a taken name.
// s.mu must be held.
func (s *Socket) versionedName(base, version string) (string, bool) {
	holder := s.plugins[base]
	if holder == nil || holder.info == nil || version == "" || validName(version) != nil {
		return base, false
	}
	for _, r := range s.index.family(base) {
		if r.info.Version == version {
			return base, false
		}
	}
	alt := base + "@" + version
	if _, taken := s.plugins[alt]; taken {
		return base, false
	}
	return alt, true
}

// resolve returns the live plugin an address reaches, or nil: see above.
// It needs no lock: the index is read as it is at the time.
func (s *Socket) resolve(addr string) *remote { return s.index.resolve(addr) }

// compareVersions orders versions as Semantic Versioning 2.0.0 does
// ("v1.2.3-rc.1+build"; a leading "v" and missing minor or patch numbers
// are allowed). Versions that are not semantic sort below those that are,
// and among themselves as strings.
func compareVersions(a, b string) int {
	va, oka := parseVersion(a)
	vb, okb := parseVersion(b)
	switch {
	case oka && okb:
		for i := range va.core {
			if c := compareInts(va.core[i], vb.core[i]); c != 0 {
				return c
			}
		}
		return comparePre(va.pre, vb.pre)
	case oka:
		return 1
	case okb:
		return -1
	}
	return strings.Compare(a, b)
}

type version struct {
	core [3]uint64
	pre  string
}

func parseVersion(s string) (version, bool) {
	var v version
	s = strings.TrimPrefix(s, "v")
	s, _, _ = strings.Cut(s, "+")
	s, v.pre, _ = strings.Cut(s, "-")
	parts := strings.Split(s, ".")
	if len(parts) > 3 {
		return v, false
	}
	for i, p := range parts {
		n, err := strconv.ParseUint(p, 10, 64)
		if err != nil {
			return v, false
		}
		v.core[i] = n
	}
	return v, true
}

// comparePre orders pre-release tags: none is above any, then identifier
// by identifier, numbers numerically and below words.
func comparePre(a, b string) int {
	switch {
	case a == b:
		return 0
	case a == "":
		return 1
	case b == "":
		return -1
	}
	as, bs := strings.Split(a, "."), strings.Split(b, ".")
	for i := 0; i < len(as) && i < len(bs); i++ {
		na, errA := strconv.ParseUint(as[i], 10, 64)
		nb, errB := strconv.ParseUint(bs[i], 10, 64)
		var c int
		switch {
		case errA == nil && errB == nil:
			c = compareInts(na, nb)
		case errA == nil:
			c = -1
		case errB == nil:
			c = 1
		default:
			c = strings.Compare(as[i], bs[i])
		}
		if c != 0 {
			return c
		}
	}
	return compareInts(uint64(len(as)), uint64(len(bs)))
}

func compareInts(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
