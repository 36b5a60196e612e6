package admin

import (
	"slices"
	"strings"

	"github.com/plugsock/plugsock/envelope"
	"github.com/plugsock/plugsock/typedesc"
)

// OpenRPCVersion is the version of the OpenRPC specification that
// OpenRPCDocument follows.
const OpenRPCVersion = "1.3.2"

// OpenRPC is an OpenRPC document (spec.open-rpc.org): the part of it that
// describes a plugin's functions.
type OpenRPC struct {
	OpenRPC string          `json:"openrpc"`
	Info    OpenRPCInfo     `json:"info"`
	Methods []OpenRPCMethod `json:"methods"`
}

// OpenRPCInfo is the info object of an OpenRPC document.
type OpenRPCInfo struct {
	Title       string `json:"title"`
	Version     string `json:"version"`
	Description string `json:"description,omitempty"`
}

// OpenRPCMethod describes one function.
type OpenRPCMethod struct {
	Name   string              `json:"name"`
	Params []OpenRPCDescriptor `json:"params"`
	Result *OpenRPCDescriptor  `json:"result,omitempty"`
}

// OpenRPCDescriptor is an OpenRPC content descriptor: a named JSON Schema.
type OpenRPCDescriptor struct {
	Name     string         `json:"name"`
	Schema   map[string]any `json:"schema"`
	Required bool           `json:"required,omitempty"`
}

// OpenRPCDocument describes info's functions as an OpenRPC document, one
// method per function, sorted by name, with JSON Schemas from
// typedesc.Entity.JSONSchema.
//
// A plugsock request's params are the payload itself, not an object or
// array of named parameters, which OpenRPC cannot say exactly; each method
// therefore has one parameter, "payload", whose schema is the whole
// params value. It is required when the payload has mandatory fields.
//
// Its size is bounded by the description's: JSONSchema goes no deeper than
// typedesc.MaxDepth, so even a description that no handshake would accept
// gives a document, never a stack overflow.
func OpenRPCDocument(info *envelope.PluginInfo) *OpenRPC {
	doc := &OpenRPC{
		OpenRPC: OpenRPCVersion,
		Info: OpenRPCInfo{
			Title:       info.Name,
			Version:     info.Version,
			Description: "Functions of the plugsock plugin " + info.Name + ". Each method's params are its payload parameter's value itself.",
		},
		Methods: make([]OpenRPCMethod, 0, len(info.Functions)),
	}
	if doc.Info.Version == "" {
		doc.Info.Version = "unversioned"
	}
	for name, fn := range info.Functions {
		doc.Methods = append(doc.Methods, OpenRPCMethod{
			Name: name,
			Params: []OpenRPCDescriptor{{
				Name:     "payload",
				Schema:   schemaOf(fn.Input),
				Required: hasMandatory(fn.Input),
			}},
			Result: &OpenRPCDescriptor{Name: "result", Schema: schemaOf(fn.Output)},
		})
	}
	slices.SortFunc(doc.Methods, func(x, y OpenRPCMethod) int { return strings.Compare(x.Name, y.Name) })
	return doc
}

func schemaOf(e *typedesc.Entity) map[string]any {
	s := e.JSONSchema()
	// A Go type's name tells a reader what the value is; a predeclared
	// type's name only repeats its Type.
	if e != nil && e.Name != "" && e.Name != e.Type {
		s["title"] = e.Name
	}
	return s
}

// hasMandatory reports whether a payload described by e must be sent:
// typedesc's Validate accepts an absent payload only when no field is
// mandatory.
func hasMandatory(e *typedesc.Entity) bool {
	if e == nil || e.Type != "struct" {
		return false
	}
	for _, f := range e.Fields {
		if f.Mandatory {
			return true
		}
	}
	return false
}
