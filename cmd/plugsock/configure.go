package main

// Plugin configurations: the configure command, and the file serve
// --config reads.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"

	"sigs.k8s.io/yaml"

	"github.com/plugsock/plugsock/internal/names"
)

func init() {
	register(clientCommand("configure", "[flags] NAME [JSON|-]",
		"Replace a plugin's configuration.\n"+
			"The configuration is the JSON argument, or stdin as for call. The host checks\n"+
			"it against the schema the plugin declared, naming each wrong field, and the\n"+
			"plugin takes it at once; it is also what the plugin gets when it connects\n"+
			"again, until serve restarts.", 1, 2, true, runConfigure))
}

func runConfigure(ctx context.Context, c command, api adminAPI, f *clientFlags, args []string, stdout, stderr io.Writer) int {
	value, err := readPayload(args[1:])
	if err != nil {
		return c.usageError(stderr, "%v", err)
	}
	if err := api.Configure(ctx, args[0], value); err != nil {
		if timedOut(err) {
			return reportTimeout(c, f, err, args[0]+" taking its configuration", stderr)
		}
		return reportError(c, f, err, stderr)
	}
	if f.json {
		return writeJSON(stdout, map[string]string{"configured": args[0]})
	}
	fmt.Fprintf(stdout, "Configured %s.\n", text(args[0]))
	return exitOK
}

// maxConfigFile bounds the file serve --config reads.
const maxConfigFile = 16 << 20

// readConfigs reads serve's --config file: a map from plugin name to its
// configuration, in JSON or YAML. YAML is converted to JSON first
// (sigs.k8s.io/yaml), so that a configuration means in YAML what it means
// in JSON: the plugin decodes it with encoding/json either way.
func readConfigs(path string) (map[string]json.RawMessage, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxConfigFile+1))
	if err != nil {
		return nil, err
	}
	if len(data) > maxConfigFile {
		return nil, fmt.Errorf("%s is larger than %d bytes", path, maxConfigFile)
	}
	if !json.Valid(data) {
		if data, err = yaml.YAMLToJSON(data); err != nil {
			return nil, fmt.Errorf("%s is neither JSON nor YAML: %w", path, err)
		}
	}
	var configs map[string]json.RawMessage
	if err := json.Unmarshal(data, &configs); err != nil || configs == nil && !bytes.Equal(bytes.TrimSpace(data), []byte("null")) {
		return nil, fmt.Errorf("%s: want a map from plugin name to its configuration, got %s", path, kindOf(data))
	}
	var errs []error
	for name := range configs {
		if err := names.Check(name); err != nil {
			errs = append(errs, fmt.Errorf("%s: %q is not a plugin name: %w", path, name, err))
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return configs, nil
}

// kindOf names the kind of JSON value data holds, for messages.
func kindOf(data []byte) string {
	data = bytes.TrimSpace(data)
	if len(data) == 0 {
		return "nothing"
	}
	switch data[0] {
	case '[':
		return "a list"
	case '"':
		return "a string"
	case 't', 'f':
		return "a boolean"
	case 'n':
		return "null"
	case '{':
		return "an object whose members are not configurations"
	}
	return "a number"
}
