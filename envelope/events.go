package envelope

// Events and state (protocol 2; docs/protocol.md, "Events and state").
//
// A host keeps topics of events and delivers them to the plugins that
// subscribe: a subscription is named, has a filter, and is bound to one of
// the plugin's sink stream functions, which the host opens and sends the
// subscription's events through, each an item whose acknowledgement marks
// the event done. A plugin declares its subscriptions in its handshake
// (the member "subscriptions") or makes them at run time through the
// host's Events service.
//
// A plugin with state to keep declares the capability "state": the host
// asks it for a snapshot ($/snapshot), keeps the latest, and hands it back
// ($/restore) before the plugin's first call after it starts again.
const (
	// MethodSnapshot asks a plugin for a snapshot of its state; it has no
	// params and answers a SnapshotResult.
	MethodSnapshot = "$/snapshot"
	// MethodRestore hands a plugin the snapshot to start from, in
	// RestoreParams, before its first call.
	MethodRestore = "$/restore"
	// CapabilityState is the handshake capability, set to true, of a
	// plugin that answers MethodSnapshot and MethodRestore.
	CapabilityState = "state"

	// HandshakeSubscriptions is the handshake member that declares a
	// plugin's subscriptions: an array of Subscription.
	HandshakeSubscriptions = "subscriptions"

	// EventsService is the name of the host service through which a
	// plugin subscribes and publishes at run time: Events.Subscribe (a
	// Subscription), Events.Unsubscribe ({"name"}) and Events.Publish (an
	// event, answering {"offset"}).
	EventsService = "Events"

	// GapType is the type of the event a host delivers in place of
	// events a subscription lost to retention: its Offset is the last
	// one lost, and its data a Gap.
	GapType = "plugsock.gap"
)

// Subscription is one subscription of a plugin: its name, unique on the
// host (the instances of a plugin that declare the same name share it,
// each event going to one of them), the sink stream function its events
// are delivered to, and which events it wants.
type Subscription struct {
	Name     string      `json:"name"`
	Function string      `json:"function"`
	Filter   EventFilter `json:"filter,omitzero"`
}

// EventFilter is a subscription's filter on the wire. Topic is exact, or
// a prefix when it ends in "*" ("orders.*"; "" or "*" is every topic);
// Type, Action and Key must be equal when not empty; every one of Attrs
// must be among the event's attributes, with the same value.
type EventFilter struct {
	Topic  string            `json:"topic,omitempty"`
	Type   string            `json:"type,omitempty"`
	Action string            `json:"action,omitempty"`
	Key    string            `json:"key,omitempty"`
	Attrs  map[string]string `json:"attrs,omitempty"`
}

// UnsubscribeParams is the params of Events.Unsubscribe.
type UnsubscribeParams struct {
	Name string `json:"name"`
}

// PublishResult is the answer of Events.Publish: the offset the event was
// given in its topic.
type PublishResult struct {
	Offset uint64 `json:"offset"`
}

// Gap is the data of a GapType event: the offsets, From through Through,
// that retention dropped before the subscription had them.
type Gap struct {
	From    uint64 `json:"from"`
	Through uint64 `json:"through"`
}

// SnapshotResult is a plugin's answer to MethodSnapshot: its state, as
// bytes of its own format (base64 in JSON).
type SnapshotResult struct {
	Data []byte `json:"data"`
}

// RestoreParams is the params of MethodRestore: the snapshot to start
// from, as the plugin gave it.
type RestoreParams struct {
	Data []byte `json:"data"`
}
