package socket

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strconv"
	"strings"
)

// What checking a value against a schema can cost. A JSON Schema
// validator applies every subschema that applies to a value, and those
// that applies in turn, without remembering what it found: a schema whose
// parts refer to one part more than once ({"allOf": [{"$ref": "#/$defs/a"},
// {"$ref": "#/$defs/a"}]}, and a's own parts the same way) makes it apply
// that part 2^n times to the same value, and a schema of 1.4 KB takes
// seconds on any value, a few hundred bytes more the age of the universe.
// A recursive type can do the same with the depth of the value. The
// validator cannot be stopped once it runs, so a plugin's schema is
// measured before it is used:
//
//   - at the handshake, how many times one application of each of its
//     subschemas applies subschemas to the same value (allOf, anyOf,
//     oneOf, not, if/then/else, dependentSchemas, $ref): at most
//     maxInPlace, or the schema is refused;
//   - before a value is checked, when the schema refers within itself (a
//     schema without references is a tree, each part of which applies at
//     most once to each part of a value), how many applications checking
//     that value takes, counted on the value itself: at most
//     schemaEvaluations plus evaluationsPerValue for each JSON value in
//     it, or the check is refused as too costly.
//
// Counting over-approximates what the validator does (an anyOf that stops
// at its first match is counted whole; a pattern that Go's regexp cannot
// compile is taken to match), so a value within the bound is one the
// validator checks in about as many steps or fewer: a million take about
// half a second.
const (
	maxInPlace          = 1024
	schemaEvaluations   = 1 << 16
	evaluationsPerValue = 64
)

// errTooCostly is wrapped by the error for a value that would take more
// than its budget of applications to check.
var errTooCostly = errors.New("too costly to check")

// schemaGraph is a schema read as the validator walks it: each subschema
// a node, with the subschemas it applies to the same value (in place) and
// those it applies to the members and elements of an object or array.
type schemaGraph struct {
	nodes   []schemaNode
	inPlace []int // how many applications one application of each node makes, itself included
	// refers reports a reference in the schema; without one, it is a
	// tree, and a value needs no counting before it is checked.
	refers bool
}

type schemaNode struct {
	in []int // in place, repeats included

	props       map[string]int
	patterns    []patternEdge
	additional  int // -1: none, here and below
	unevalProps int
	propNames   int // applied to each member's name

	prefix      []int
	items       int // past prefix
	extraItems  int // draft-07's additionalItems, also past prefix
	contains    int
	unevalItems int
}

type patternEdge struct {
	re   *regexp.Regexp // nil: taken to match every name
	node int
}

// schemaReader builds a schemaGraph from a decoded schema.
type schemaReader struct {
	root    any
	base    string         // the root's $id, which references may start with
	at      map[string]int // a node's location (a JSON pointer) → its index
	anchors map[string][]string
	g       *schemaGraph
	todo    []string
}

// readSchemaGraph reads raw, a schema that compiles. It refuses one whose
// references it cannot follow, which the validator could then follow
// somewhere it does not see: a "$ref" that is neither a JSON pointer nor
// an anchor within the schema, and a nested "$id", which moves where
// references within it lead.
func readSchemaGraph(raw []byte) (*schemaGraph, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var root any
	if err := dec.Decode(&root); err != nil {
		return nil, err
	}
	r := &schemaReader{root: root, at: map[string]int{}, anchors: map[string][]string{}, g: &schemaGraph{}}
	if m, ok := root.(map[string]any); ok {
		if id, ok := m["$id"].(string); ok {
			r.base, _, _ = strings.Cut(id, "#")
		}
	}
	if err := r.findAnchors(root, ""); err != nil {
		return nil, err
	}
	r.node("")
	for len(r.todo) > 0 {
		loc := r.todo[len(r.todo)-1]
		r.todo = r.todo[:len(r.todo)-1]
		if err := r.read(loc); err != nil {
			return nil, err
		}
	}
	r.g.inPlace = inPlaceCounts(r.g.nodes)
	return r.g, nil
}

// findAnchors notes where each anchor is, and refuses nested "$id"s. It
// looks at every object, as the validator's compiler does.
func (r *schemaReader) findAnchors(v any, loc string) error {
	switch x := v.(type) {
	case map[string]any:
		for _, k := range []string{"$anchor", "$dynamicAnchor"} {
			if a, ok := x[k].(string); ok {
				r.anchors[a] = append(r.anchors[a], loc)
			}
		}
		if id, ok := x["$id"].(string); ok {
			if frag, isAnchor := strings.CutPrefix(id, "#"); isAnchor {
				r.anchors[frag] = append(r.anchors[frag], loc) // draft-07's anchors
			} else if loc != "" {
				return fmt.Errorf("%s: a nested \"$id\" (%q) is not supported; give the schema one $id at its top, or none", pointerOrRoot(loc), id)
			}
		}
		if b, ok := x["$recursiveAnchor"].(bool); ok && b {
			r.anchors["$recursive"] = append(r.anchors["$recursive"], loc)
		}
		for k, e := range x {
			if err := r.findAnchors(e, loc+"/"+escapeToken(k)); err != nil {
				return err
			}
		}
	case []any:
		for i, e := range x {
			if err := r.findAnchors(e, loc+"/"+strconv.Itoa(i)); err != nil {
				return err
			}
		}
	}
	return nil
}

// node returns the index of the node at loc, adding it to be read.
func (r *schemaReader) node(loc string) int {
	if i, ok := r.at[loc]; ok {
		return i
	}
	i := len(r.g.nodes)
	r.at[loc] = i
	r.g.nodes = append(r.g.nodes, schemaNode{additional: -1, unevalProps: -1, propNames: -1, items: -1, extraItems: -1, contains: -1, unevalItems: -1})
	r.todo = append(r.todo, loc)
	return i
}

// read fills in the node at loc from the schema there.
//
// Adding nodes grows r.g.nodes, so the node is found again by its index
// each time it is written to.
func (r *schemaReader) read(loc string) error {
	self := r.at[loc]
	m, ok := r.lookup(loc).(map[string]any)
	if !ok {
		return nil // true, false, or what the compiler refused
	}
	sub := func(k string) string { return loc + "/" + escapeToken(k) }
	one := func(k string) int {
		if _, ok := m[k]; !ok {
			return -1
		}
		return r.node(sub(k))
	}
	list := func(k string) []int {
		a, _ := m[k].([]any)
		var out []int
		for i := range a {
			out = append(out, r.node(sub(k)+"/"+strconv.Itoa(i)))
		}
		return out
	}
	var in []int
	for _, k := range []string{"not", "if", "then", "else"} {
		if i := one(k); i >= 0 {
			in = append(in, i)
		}
	}
	for _, k := range []string{"allOf", "anyOf", "oneOf"} {
		in = append(in, list(k)...)
	}
	for _, k := range []string{"dependentSchemas", "dependencies"} {
		deps, _ := m[k].(map[string]any)
		for name, d := range deps {
			if _, isList := d.([]any); !isList {
				in = append(in, r.node(sub(k)+"/"+escapeToken(name)))
			}
		}
	}
	for _, k := range []string{"$ref", "$dynamicRef", "$recursiveRef"} {
		ref, ok := m[k].(string)
		if !ok {
			continue
		}
		targets, err := r.resolve(k, ref)
		if err != nil {
			return fmt.Errorf("%s: %w", pointerOrRoot(sub(k)), err)
		}
		r.g.refers = true
		for _, t := range targets {
			in = append(in, r.node(t))
		}
	}
	r.g.nodes[self].in = in
	if props, ok := m["properties"].(map[string]any); ok {
		r.g.nodes[self].props = make(map[string]int, len(props))
		for name := range props {
			i := r.node(sub("properties") + "/" + escapeToken(name))
			r.g.nodes[self].props[name] = i
		}
	}
	patterns, _ := m["patternProperties"].(map[string]any)
	var edges []patternEdge
	for p := range patterns {
		re, err := regexp.Compile(p)
		if err != nil {
			re = nil
		}
		edges = append(edges, patternEdge{re, r.node(sub("patternProperties") + "/" + escapeToken(p))})
	}
	additional, unevalProps, propNames := one("additionalProperties"), one("unevaluatedProperties"), one("propertyNames")
	prefix := list("prefixItems")
	items := -1
	if _, isList := m["items"].([]any); isList {
		prefix = append(prefix, list("items")...)
	} else {
		items = one("items")
	}
	extraItems, contains, unevalItems := one("additionalItems"), one("contains"), one("unevaluatedItems")
	n := &r.g.nodes[self]
	n.patterns, n.additional, n.unevalProps, n.propNames = edges, additional, unevalProps, propNames
	n.prefix, n.items, n.extraItems, n.contains, n.unevalItems = prefix, items, extraItems, contains, unevalItems
	return nil
}

// resolve returns the locations a reference can lead to.
func (r *schemaReader) resolve(keyword, ref string) ([]string, error) {
	if r.base != "" {
		if rest, ok := strings.CutPrefix(ref, r.base); ok && (rest == "" || rest[0] == '#') {
			ref = rest
		}
	}
	if ref == "" {
		ref = "#"
	}
	frag, ok := strings.CutPrefix(ref, "#")
	if !ok {
		return nil, fmt.Errorf("%q refers to another document; references may only point within the schema (#/$defs/...)", ref)
	}
	if keyword == "$recursiveRef" {
		return append([]string{""}, r.anchors["$recursive"]...), nil
	}
	if frag == "" || frag[0] == '/' {
		loc, err := canonicalPointer(frag)
		if err != nil {
			return nil, fmt.Errorf("%q: %w", ref, err)
		}
		if r.lookup(loc) == nil {
			return nil, fmt.Errorf("%q points to nothing in the schema", ref)
		}
		return []string{loc}, nil
	}
	if locs := r.anchors[frag]; len(locs) > 0 {
		return locs, nil
	}
	return nil, fmt.Errorf("%q: no anchor %q in the schema", ref, frag)
}

// lookup returns the value at loc, a canonical JSON pointer, or nil.
func (r *schemaReader) lookup(loc string) any {
	v := r.root
	if loc == "" {
		return v
	}
	for _, tok := range strings.Split(loc[1:], "/") {
		tok = strings.NewReplacer("~1", "/", "~0", "~").Replace(tok)
		switch x := v.(type) {
		case map[string]any:
			v = x[tok]
		case []any:
			i, err := strconv.Atoi(tok)
			if err != nil || i < 0 || i >= len(x) {
				return nil
			}
			v = x[i]
		default:
			return nil
		}
	}
	return v
}

// canonicalPointer returns the JSON pointer of a URI fragment, its
// percent escapes decoded, as lookup reads it.
func canonicalPointer(frag string) (string, error) {
	p, err := url.PathUnescape(frag)
	if err != nil {
		return "", err
	}
	return p, nil
}

func escapeToken(s string) string { return strings.NewReplacer("~", "~0", "/", "~1").Replace(s) }

func pointerOrRoot(loc string) string {
	if loc == "" {
		return "the top"
	}
	return loc
}

// inPlaceCounts returns, for each node, how many applications one
// application of it makes in place, itself included, counted up to
// maxInPlace+1. A reference back to a node being applied counts once:
// the validator finds that cycle and stops there.
func inPlaceCounts(nodes []schemaNode) []int {
	const (
		unseen = iota
		visiting
		done
	)
	state := make([]uint8, len(nodes))
	count := make([]int, len(nodes))
	// An explicit stack: a chain of references may be as long as the
	// schema has objects.
	type frame struct{ n, next int }
	for start := range nodes {
		if state[start] != unseen {
			continue
		}
		stack := []frame{{start, 0}}
		state[start] = visiting
		count[start] = 1
		for len(stack) > 0 {
			f := &stack[len(stack)-1]
			if f.next == len(nodes[f.n].in) {
				state[f.n] = done
				stack = stack[:len(stack)-1]
				if len(stack) > 0 {
					p := stack[len(stack)-1].n
					count[p] = min(count[p]+count[f.n], maxInPlace+1)
				}
				continue
			}
			c := nodes[f.n].in[f.next]
			f.next++
			switch state[c] {
			case unseen:
				state[c], count[c] = visiting, 1
				stack = append(stack, frame{c, 0})
			case visiting:
				count[f.n] = min(count[f.n]+1, maxInPlace+1)
			case done:
				count[f.n] = min(count[f.n]+count[c], maxInPlace+1)
			}
		}
	}
	return count
}

// check refuses a schema that applies its parts to one value more than
// maxInPlace times.
func (g *schemaGraph) check() error {
	for _, c := range g.inPlace {
		if c > maxInPlace {
			return fmt.Errorf("it applies more than %d of its subschemas to one value (through allOf, anyOf, oneOf, $ref, ...): checking a value against it would take too long", maxInPlace)
		}
	}
	return nil
}

// within reports whether checking value, valid JSON, against the schema
// takes no more applications than its budget. It walks the value once,
// holding for each object and array in it the subschemas that apply to
// it and how many times; its recursion is bounded by the depth of the
// value, which encoding/json bounds.
func (g *schemaGraph) within(value []byte) error {
	var v any
	if len(bytes.TrimSpace(value)) > 0 && json.Unmarshal(value, &v) != nil {
		return nil // not JSON: the validator says so, at no cost
	}
	c := &counter{g: g, budget: schemaEvaluations + evaluationsPerValue*countValues(v), on: make([]bool, len(g.nodes))}
	c.value(v, map[int]int{0: 1})
	if c.spent > c.budget {
		return fmt.Errorf("%w: it would take more than %d applications of the schema's parts", errTooCostly, c.budget)
	}
	return nil
}

// countValues counts the JSON values in v, itself included.
func countValues(v any) int {
	n := 0
	stack := []any{v}
	for len(stack) > 0 {
		x := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		n++
		switch x := x.(type) {
		case map[string]any:
			for _, e := range x {
				stack = append(stack, e)
			}
		case []any:
			stack = append(stack, x...)
		}
	}
	return n
}

// counter counts the applications checking one value takes.
type counter struct {
	g      *schemaGraph
	budget int
	spent  int
	on     []bool // nodes on expandInPlace's path
}

func (c *counter) spend(n int) {
	c.spent = min(c.spent+n, 1<<40)
}

// value counts the applications the nodes in roots make to v, and to its
// parts in turn.
func (c *counter) value(v any, roots map[int]int) {
	for n, times := range roots {
		c.spend(times * c.g.inPlace[n])
	}
	if c.spent > c.budget {
		return
	}
	var applied map[int]int
	switch v.(type) {
	case map[string]any, []any:
		applied = make(map[int]int)
		for n, times := range roots {
			c.expandInPlace(n, times, applied)
		}
	default:
		return
	}
	switch x := v.(type) {
	case map[string]any:
		for name, member := range x {
			child := make(map[int]int)
			for n, times := range applied {
				c.memberRoots(&c.g.nodes[n], name, times, child)
				if pn := c.g.nodes[n].propNames; pn >= 0 {
					c.spend(times * c.g.inPlace[pn])
				}
			}
			if c.value(member, child); c.spent > c.budget {
				return
			}
		}
	case []any:
		for i, e := range x {
			child := make(map[int]int)
			for n, times := range applied {
				c.elementRoots(&c.g.nodes[n], i, times, child)
			}
			if c.value(e, child); c.spent > c.budget {
				return
			}
		}
	}
}

// expandInPlace adds to applied the nodes one application of n applies
// in place, itself included, times times each. It visits at most
// inPlace[n] nodes, which check bounds.
func (c *counter) expandInPlace(n, times int, applied map[int]int) {
	type frame struct{ n, next int }
	stack := []frame{{n, 0}}
	c.on[n] = true
	c.add(applied, n, times)
	for len(stack) > 0 {
		f := &stack[len(stack)-1]
		if f.next == len(c.g.nodes[f.n].in) {
			c.on[f.n] = false
			stack = stack[:len(stack)-1]
			continue
		}
		next := c.g.nodes[f.n].in[f.next]
		f.next++
		if c.on[next] {
			continue // a cycle, which the validator stops at
		}
		c.add(applied, next, times)
		c.on[next] = true
		stack = append(stack, frame{next, 0})
	}
}

func (c *counter) add(roots map[int]int, n, times int) {
	if n >= 0 {
		roots[n] = min(roots[n]+times, c.budget+1)
	}
}

// memberRoots adds the nodes that n applies to its value's member name.
func (c *counter) memberRoots(n *schemaNode, name string, times int, roots map[int]int) {
	matched := false
	if p, ok := n.props[name]; ok {
		c.add(roots, p, times)
		matched = true
	}
	for _, e := range n.patterns {
		if e.re == nil || e.re.MatchString(name) {
			c.add(roots, e.node, times)
			matched = true
		}
	}
	if !matched {
		c.add(roots, n.additional, times)
	}
	c.add(roots, n.unevalProps, times)
}

// elementRoots adds the nodes that n applies to its value's element i.
func (c *counter) elementRoots(n *schemaNode, i, times int, roots map[int]int) {
	if i < len(n.prefix) {
		c.add(roots, n.prefix[i], times)
	} else {
		c.add(roots, n.items, times)
		c.add(roots, n.extraItems, times)
	}
	c.add(roots, n.contains, times)
	c.add(roots, n.unevalItems, times)
}
