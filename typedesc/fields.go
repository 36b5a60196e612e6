package typedesc

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// Matching object keys to fields. A short field list is searched, as
// encoding/json's own small structs are; a long one is indexed, so that an
// object costs the number of its keys, not that times the number of
// fields, and a payload of many objects against a struct of many fields
// stays linear.

// shortFields is the longest field list matched by searching it.
const shortFields = 16

// fieldsSeen tracks the fields one object has set.
type fieldsSeen struct {
	fields []Entity
	short  [shortFields]bool // which fields of a short list were seen
	idx    *fieldIndex       // for a long list
	gen    uint64            // idx.mark[i] == gen: field i was seen
	seen   int               // mandatory fields seen, for a long list
}

// listKey identifies a field list: two lists that start at the same
// Entity but differ in length are different lists.
type listKey struct {
	first *Entity
	n     int
}

// fieldIndex indexes one long field list for a whole Validate.
type fieldIndex struct {
	exact     map[string]int // first field by name
	folded    map[string]int // first field by foldKey of its name
	mandatory int
	mark      []uint64
	gen       uint64
	busy      bool // an object of this list is being read
}

// seen starts tracking an object whose fields are fields.
func (v *validator) seen(fields []Entity) fieldsSeen {
	s := fieldsSeen{fields: fields}
	if len(fields) <= shortFields {
		return s
	}
	key := listKey{&fields[0], len(fields)}
	idx := v.indexes[key]
	if idx == nil {
		idx = &fieldIndex{
			exact:  make(map[string]int, len(fields)),
			folded: make(map[string]int, len(fields)),
			mark:   make([]uint64, len(fields)),
		}
		for i := range fields {
			name := fields[i].Name
			if _, ok := idx.exact[name]; !ok {
				idx.exact[name] = i
			}
			if k := foldKey(name); !hasKey(idx.folded, k) {
				idx.folded[k] = i
			}
			if fields[i].Mandatory {
				idx.mandatory++
			}
		}
		if v.indexes == nil {
			v.indexes = make(map[listKey]*fieldIndex)
		}
		v.indexes[key] = idx
	}
	if idx.busy {
		// The same list inside one of its own objects, which only a
		// description that contains itself has; MaxDepth bounds how often.
		// Track this object on its own.
		s.idx = &fieldIndex{exact: idx.exact, folded: idx.folded, mandatory: idx.mandatory, mark: make([]uint64, len(fields))}
	} else {
		s.idx = idx
	}
	s.idx.busy = true
	s.idx.gen++
	s.gen = s.idx.gen
	return s
}

func hasKey(m map[string]int, k string) bool {
	_, ok := m[k]
	return ok
}

// done ends the tracking of an object.
func (s *fieldsSeen) done() {
	if s.idx != nil {
		s.idx.busy = false
	}
}

// match finds the field key decodes into, the way encoding/json does: an
// exact match first, else the first case-insensitive one; and it records
// the field as seen. It returns -1 for a key that matches no field.
func (s *fieldsSeen) match(key string) int {
	if s.idx == nil {
		i := matchField(s.fields, key)
		if i >= 0 {
			s.short[i] = true
		}
		return i
	}
	i, ok := s.idx.exact[key]
	if !ok {
		if i, ok = s.idx.folded[foldKey(key)]; !ok {
			return -1
		}
	}
	if s.idx.mark[i] != s.gen {
		s.idx.mark[i] = s.gen
		if s.fields[i].Mandatory {
			s.seen++
		}
	}
	return i
}

// missing returns the first mandatory field the object left out, or -1.
func (s *fieldsSeen) missing() int {
	if s.idx != nil && s.seen == s.idx.mandatory {
		return -1
	}
	for i := range s.fields {
		if !s.fields[i].Mandatory {
			continue
		}
		if s.idx == nil && !s.short[i] || s.idx != nil && s.idx.mark[i] != s.gen {
			return i
		}
	}
	return -1
}

// foldKey maps every string strings.EqualFold deems equal to s to one
// string: each rune becomes the smallest rune of its case-folding orbit.
func foldKey(s string) string {
	ascii := true
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= utf8.RuneSelf || 'a' <= c && c <= 'z' {
			ascii = false
			break
		}
	}
	if ascii {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	for _, r := range s {
		least := r
		for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
			least = min(least, f)
		}
		b.WriteRune(least)
	}
	return b.String()
}
