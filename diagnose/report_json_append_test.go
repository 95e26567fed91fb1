package diagnose

import (
	"bytes"
	"encoding/json"
	"fmt"
	"iter"
	"math"
	"math/rand/v2"
	"net/netip"
	"reflect"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// TestJSONAppendersMatchEncodingJSON fills every exported field of each
// record type that has an appender with random values (empty, nil and
// zero ones included, so omitempty is exercised both ways; strings with
// what needs escaping) and compares the appender with encoding/json,
// compact and indented at the report's depths. A field added to a record
// type without its appender changes encoding/json's output and fails it.
func TestJSONAppendersMatchEncodingJSON(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	types := []any{&CallReport{}, &StreamReport{}, &AllocationReport{}, &BindingReport{}, &Finding{}, &ICESessionReport{}}
	for _, proto := range types {
		typ := reflect.TypeOf(proto).Elem()
		t.Run(typ.Name(), func(t *testing.T) {
			for i := range 3000 {
				v := reflect.New(typ)
				fillRandom(rng, v.Elem(), 0)
				compareWithEncodingJSON(t, fmt.Sprintf("%s #%d", typ.Name(), i), v.Interface())
				if t.Failed() {
					return
				}
			}
		})
	}
}

// TestJSONAppendersFallBack: values encoding/json refuses are left to it,
// so the report fails as it did.
func TestJSONAppendersFallBack(t *testing.T) {
	var e jsonAppender
	for _, v := range []any{
		&StreamReport{JitterMS: math.NaN()},
		&StreamReport{First: FrameRef{Time: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)}},
		&Finding{First: time.Date(-1, 1, 1, 0, 0, 0, 0, time.UTC)},
	} {
		_, want := json.Marshal(v)
		if want == nil {
			t.Fatalf("%+v: encoding/json accepts it", v)
		}
		if err := e.appendRecord(v, true, 2); err == nil {
			t.Errorf("%+v: appended %s, want encoding/json's error %v", v, e.b, want)
		}
	}
}

// TestIndentJSONMatchesIndent holds indentJSON to json.Indent on the
// records' compact JSON and on nested empty values.
func TestIndentJSONMatchesIndent(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	var e jsonAppender
	inputs := []string{`{}`, `[]`, `{"a":[],"b":{},"c":[{},[]],"d":"x\"]},:[{"}`, `[1,-2.5e-7,true,null,"\u003c\\"]`}
	for range 500 {
		v := reflect.New(reflect.TypeFor[RegistrationReport]())
		fillRandom(rng, v.Elem(), 0)
		b, err := json.Marshal(v.Interface())
		if err != nil {
			t.Fatal(err)
		}
		inputs = append(inputs, string(b))
	}
	for _, in := range inputs {
		for depth := range 3 {
			var want bytes.Buffer
			if err := json.Indent(&want, []byte(in), strings.Repeat(jsonIndent, depth), jsonIndent); err != nil {
				t.Fatal(err)
			}
			e.b = e.b[:0]
			if err := e.indentJSON([]byte(in), depth); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(e.b, want.Bytes()) {
				t.Fatalf("indentJSON(%s, %d):\n%s\nwant\n%s", in, depth, e.b, want.Bytes())
			}
		}
	}
}

func compareWithEncodingJSON(t *testing.T, what string, v any) {
	t.Helper()
	want, err := json.Marshal(v)
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	var e jsonAppender
	if err := e.appendRecord(v, false, 0); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	if !bytes.Equal(e.b, want) {
		t.Fatalf("%s compact:\n%s\nwant\n%s", what, e.b, want)
	}
	for depth := range 3 {
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		enc.SetIndent(strings.Repeat(jsonIndent, depth), jsonIndent)
		if err := enc.Encode(v); err != nil {
			t.Fatal(err)
		}
		want := bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
		if err := e.appendRecord(v, true, depth); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if !bytes.Equal(e.b, want) {
			t.Fatalf("%s indented at depth %d:\n%s\nwant\n%s", what, depth, e.b, want)
		}
	}
}

var randomStrings = []string{"", "a", "10.0.0.1:5060", "<sip:alice@example.com>;tag=1&2", "quote\" back\\slash",
	"tab\tnl\ncr\r\b\f\x00\x1f\x7f", "é日本\u2028\u2029", "bad\xff\xfeutf8", "sip:+15551234567@[2001:db8::1]:5061"}

// fillRandom sets every exported field reachable from v, a third of the
// time to its zero value.
func fillRandom(rng *rand.Rand, v reflect.Value, depth int) {
	if rng.IntN(3) == 0 && depth > 0 {
		v.SetZero()
		return
	}
	switch v.Type() {
	case reflect.TypeFor[time.Time]():
		zones := []*time.Location{time.UTC, time.FixedZone("x", 5*3600+30*60), time.FixedZone("y", -7*3600)}
		ts := time.Unix(rng.Int64N(4e9), rng.Int64N(1e9)*int64(rng.IntN(2))).In(zones[rng.IntN(len(zones))])
		v.Set(reflect.ValueOf(ts))
		return
	case reflect.TypeFor[netip.Addr]():
		addrs := []netip.Addr{{}, netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("2001:db8::1"), netip.MustParseAddr("fe80::1%eth<0>"), netip.MustParseAddr("::ffff:10.0.0.1")}
		v.Set(reflect.ValueOf(addrs[rng.IntN(len(addrs))]))
		return
	case reflect.TypeFor[netip.AddrPort]():
		addrs := []netip.AddrPort{{}, netip.MustParseAddrPort("192.0.2.1:3478"), netip.MustParseAddrPort("[2001:db8::1]:0"), netip.MustParseAddrPort("[fe80::1%eth&0]:9")}
		v.Set(reflect.ValueOf(addrs[rng.IntN(len(addrs))]))
		return
	}
	switch v.Kind() {
	case reflect.Struct:
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() {
				fillRandom(rng, v.Field(i), depth+1)
			}
		}
	case reflect.Pointer:
		p := reflect.New(v.Type().Elem())
		fillRandom(rng, p.Elem(), depth+1)
		v.Set(p)
	case reflect.Slice:
		n := rng.IntN(4)
		s := reflect.MakeSlice(v.Type(), n, n)
		for i := range n {
			fillRandom(rng, s.Index(i), depth+1)
		}
		v.Set(s)
	case reflect.Map:
		m := reflect.MakeMap(v.Type())
		for range rng.IntN(5) {
			k := reflect.New(v.Type().Key()).Elem()
			fillRandom(rng, k, 0)
			e := reflect.New(v.Type().Elem()).Elem()
			fillRandom(rng, e, 0)
			m.SetMapIndex(k, e)
		}
		v.Set(m)
	case reflect.String:
		v.SetString(randomStrings[rng.IntN(len(randomStrings))])
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		v.SetInt(randomInt(rng) >> (64 - v.Type().Bits()))
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		v.SetUint(uint64(randomInt(rng)) >> (64 - v.Type().Bits()))
	case reflect.Float32, reflect.Float64:
		floats := []float64{0, 0.5, -1.25, 123.456, 1e-7, -3.3e-9, 1e21, 2.5e22, 99.999, 1e20, math.SmallestNonzeroFloat64, math.MaxFloat64}
		v.SetFloat(floats[rng.IntN(len(floats))])
	default:
		panic("fillRandom: no values for " + v.Type().String())
	}
}

func randomInt(rng *rand.Rand) int64 {
	switch rng.IntN(3) {
	case 0:
		return rng.Int64N(1000) - 500
	case 1:
		return int64(rng.Uint64())
	}
	return 1
}

func TestSSRCString(t *testing.T) {
	for _, v := range []uint32{0, 1, 0xf, 0x10, 0xabcdef, 0x1234abcd, 0xffffffff} {
		if got, want := ssrcString(v), fmt.Sprintf("0x%08x", v); got != want {
			t.Errorf("ssrcString(%#x) = %q, want %q", v, got, want)
		}
	}
}

// TestBuildAhead: the batches hold what the sequence yields, in order,
// and a caller that stops early leaves no goroutine behind.
func TestBuildAhead(t *testing.T) {
	var stopped atomic.Bool
	numbers := func(n int) iter.Seq[int] {
		return func(yield func(int) bool) {
			defer stopped.Store(true)
			for i := range n {
				if !yield(i) {
					return
				}
			}
		}
	}
	for _, n := range []int{0, 1, buildAheadBatch, 10*buildAheadBatch + 3} {
		var got []int
		for batch := range BuildAhead(numbers(n)) {
			got = append(got, batch...)
		}
		if len(got) != n || (n > 0 && got[n-1] != n-1) || !slices.IsSorted(got) {
			t.Errorf("%d numbers: got %d, last %v", n, len(got), got[max(len(got)-1, 0):])
		}
	}
	stopped.Store(false)
	for batch := range BuildAhead(numbers(100 * buildAheadBatch)) {
		if len(batch) != buildAheadBatch || batch[0] != 0 {
			t.Errorf("first batch: %d numbers from %d", len(batch), batch[0])
		}
		break
	}
	if !stopped.Load() {
		t.Error("the sequence still runs after the caller stopped")
	}
}
