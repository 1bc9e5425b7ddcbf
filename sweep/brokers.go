package sweep

import (
	"bytes"
	"encoding/json"
	"io"
	"slices"
	"strconv"
	"strings"
)

// A comparison of several broker models (compare --broker queue,log) is one
// Comparison per model, each a table of its own, over the same strategies,
// scenarios and seeds; each model's runs take its own parameters
// (run.BrokerParams.Of). The types here carry the list; one model's
// comparison and slices are as they have always been.

// ByBroker is a comparison of several broker models: one Comparison per
// model, in the order given. Its JSON form is the output of
// `idemsim compare --json` with more than one model; with one, the output
// is that model's Comparison alone, as it has always been.
type ByBroker struct {
	Comparisons []*Comparison `json:"comparisons"`
}

// PartsByBroker is slice K/N of a comparison of several broker models: one
// Part per model, in the order given, each with the list in Brokers. Its
// JSON form is the output of `idemsim compare --shard K/N` with more than
// one model.
type PartsByBroker struct {
	Parts []*Part `json:"parts"`
}

// ReadParts reads the JSON of one slice: a Part (one model) or a
// PartsByBroker (several); source names it in messages. Anything else is
// an error that matches ErrBadMerge.
func ReadParts(r io.Reader, source string) ([]*Part, error) {
	b, err := io.ReadAll(r)
	if err != nil {
		return nil, mergeErrorf("%s: %v", source, err)
	}
	var probe map[string]json.RawMessage
	if json.Unmarshal(b, &probe) != nil || probe["parts"] == nil {
		p, err := ReadPart(bytes.NewReader(b), source)
		if err != nil {
			return nil, err
		}
		return []*Part{p}, nil
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var pb PartsByBroker
	if err := dec.Decode(&pb); err != nil {
		return nil, mergeErrorf("%s: %s: %v", source, notAPart, err)
	}
	if len(pb.Parts) == 0 {
		return nil, mergeErrorf("%s: %s: no part", source, notAPart)
	}
	for i, p := range pb.Parts {
		if p == nil {
			return nil, mergeErrorf("%s: %s: part %d is null", source, notAPart, i+1)
		}
		p.Source = source
		if err := p.check(); err != nil {
			return nil, err
		}
		if !slices.Equal(p.models(), pb.Parts[0].models()) || p.Shard != pb.Parts[0].Shard {
			return nil, mergeErrorf("%s: %s: its parts are not one slice of one comparison", source, notAPart)
		}
		if p.Broker != p.models()[i] {
			return nil, mergeErrorf("%s: %s: part %d is of the %s broker, not the %s, the %s of its brokers %s", source, notAPart, i+1, p.Broker, p.models()[i], ordinal(i+1), strings.Join(p.models(), ","))
		}
	}
	if len(pb.Parts) != len(pb.Parts[0].models()) {
		return nil, mergeErrorf("%s: %s: %d parts for the brokers %s", source, notAPart, len(pb.Parts), strings.Join(pb.Parts[0].models(), ","))
	}
	return pb.Parts, nil
}

// ordinal writes n as "1st", "2nd", ...
func ordinal(n int) string {
	suffix := "th"
	switch {
	case n%100 >= 11 && n%100 <= 13:
	case n%10 == 1:
		suffix = "st"
	case n%10 == 2:
		suffix = "nd"
	case n%10 == 3:
		suffix = "rd"
	}
	return strconv.Itoa(n) + suffix
}

// models are the broker models of the comparison p is a slice of.
func (p *Part) models() []string {
	if len(p.Brokers) > 0 {
		return p.Brokers
	}
	return []string{brokerName(p.Broker)}
}

// MergeBrokers joins the slices of a comparison of one or more broker
// models, given in any order, into one Comparison per model, in the order
// of their list (Part.Brokers): Merge of each model's parts. Every model
// must have every slice once, and all parts must be of one comparison;
// otherwise an error that matches ErrBadMerge names the parts.
func MergeBrokers(parts []*Part) ([]*Comparison, error) {
	if len(parts) == 0 {
		return nil, mergeErrorf("no slice to merge")
	}
	head := parts[0]
	models := head.models()
	groups := make([][]*Part, len(models))
	for _, p := range parts {
		if !slices.Equal(p.models(), models) {
			return nil, mergeErrorf("%s and %s are slices of different comparisons: brokers %s and %s; give the slices of one comparison",
				head.name(), p.name(), strings.Join(models, ","), strings.Join(p.models(), ","))
		}
		i := slices.Index(models, brokerName(p.Broker))
		if i < 0 {
			return nil, mergeErrorf("%s: %s: its broker %s is not among its brokers %s", p.name(), notAPart, p.Broker, strings.Join(models, ","))
		}
		groups[i] = append(groups[i], p)
	}
	out := make([]*Comparison, len(models))
	for i, g := range groups {
		if len(g) == 0 {
			return nil, mergeErrorf("cannot merge: no slice of the %s broker's comparison (the comparison is of the brokers %s); give each slice of each", models[i], strings.Join(models, ","))
		}
		if d := g[0].differsButBroker(head); d != "" {
			return nil, mergeErrorf("%s and %s are slices of different comparisons: %s; give the slices of one comparison", head.name(), g[0].name(), d)
		}
		cmp, err := Merge(g)
		if err != nil {
			return nil, err
		}
		out[i] = cmp
	}
	return out, nil
}

// differsButBroker says how q differs from p as a comparison, their
// brokers aside, "" if it does not.
func (p *Part) differsButBroker(q *Part) string {
	o := *q
	o.BrokerNaming = p.BrokerNaming
	return p.differs(&o)
}
