package typedesc

import (
	"reflect"
	"testing"
	"time"
)

type benchItem struct {
	SKU   string  `json:"sku"`
	Price float64 `json:"price"`
	Qty   uint16  `json:"qty,omitempty"`
}

type benchBase struct {
	ID      int64     `json:"id"`
	Created time.Time `json:"created"`
}

type benchOrder struct {
	benchBase
	Customer struct {
		Name  string `json:"name"`
		Email string `json:"email,omitempty"`
	} `json:"customer"`
	Items []benchItem            `json:"items"`
	Tags  map[string]string      `json:"tags,omitempty"`
	Index map[int]*benchItem     `json:"index,omitempty"`
	Next  *benchOrder            `json:"next,omitempty"`
	Extra map[string]interface{} `json:"extra,omitempty"`
}

func BenchmarkTypeDescriptionCached(b *testing.B) {
	b.ReportAllocs()
	TypeDescription(benchOrder{})
	for b.Loop() {
		TypeDescription(benchOrder{})
	}
}

func BenchmarkTypeDescriptionUncached(b *testing.B) {
	b.ReportAllocs()
	t := reflect.TypeFor[benchOrder]()
	for b.Loop() {
		describeTop(t)
	}
}

func BenchmarkValidate(b *testing.B) {
	b.ReportAllocs()
	e := TypeDescription(benchOrder{})
	payload := []byte(`{"id":1,"created":"2025-01-01T00:00:00Z","customer":{"name":"n"},
		"items":[{"sku":"a","price":1.5,"qty":2},{"sku":"b","price":2}],"tags":{"a":"b"},"index":{"1":null}}`)
	for b.Loop() {
		if err := e.Validate(payload); err != nil {
			b.Fatal(err)
		}
	}
}
