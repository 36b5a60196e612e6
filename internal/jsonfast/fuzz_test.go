package jsonfast_test

import "testing"

// FuzzDecode checks the core property of Decode, that it agrees with
// encoding/json whenever it reports true, for a few types that between
// them hold every kind it handles.
func FuzzDecode(f *testing.F) {
	for _, s := range fuzzSeeds() {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		check[Mixed](t, data)
		check[map[string]any](t, data)
		check[[]float32](t, data)
		check[any](t, data)
		check[[2]int8](t, data)
		check[Node](t, data)
		// Decode takes base64 into a []byte, though the contract leaves it out.
		check[[]byte](t, data)
	})
}

// fuzzSeeds are the inputs of TestDecode, once each, but for the large
// ones, those nested up to encoding/json's limit among them: mutating and
// minimizing those stalls the fuzzer, for little the seeds do not cover.
func fuzzSeeds() []string {
	seen := map[string]bool{}
	var seeds []string
	add := func(inputs []string) {
		for _, s := range inputs {
			if len(s) <= 4<<10 && !seen[s] {
				seen[s] = true
				seeds = append(seeds, s)
			}
		}
	}
	add(commonInputs)
	for _, tc := range decodeCases() {
		add(tc.fast)
		add(tc.inputs)
	}
	return seeds
}
