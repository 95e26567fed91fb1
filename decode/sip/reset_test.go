package sip

import (
	"reflect"
	"testing"
	"unsafe"
)

// dirty sets every field of v, exported or not, to a value that is not
// its zero value.
func dirty(v reflect.Value) {
	if !v.CanSet() {
		v = reflect.NewAt(v.Type(), unsafe.Pointer(v.UnsafeAddr())).Elem()
	}
	switch v.Kind() {
	case reflect.Struct:
		for i := range v.NumField() {
			dirty(v.Field(i))
		}
	case reflect.Array:
		for i := range v.Len() {
			dirty(v.Index(i))
		}
	case reflect.Slice:
		if v.Type().Elem().Kind() == reflect.Uint8 {
			v.SetBytes([]byte("stale"))
		} else {
			v.Set(reflect.MakeSlice(v.Type(), 1, 1))
		}
	case reflect.Pointer:
		v.Set(reflect.New(v.Type().Elem()))
	case reflect.String:
		v.SetString("stale")
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Int, reflect.Int64, reflect.Int32:
		v.SetInt(7)
	case reflect.Uint32, reflect.Uint64, reflect.Uint8:
		v.SetUint(7)
	default:
		panic("dirty: unhandled kind " + v.Kind().String())
	}
}

// TestResetClearsEveryField parses into a Message whose every field holds
// a stale value and expects what a new Message gets: a field added to
// Message but not to reset fails it.
func TestResetClearsEveryField(t *testing.T) {
	msgs := [][]byte{
		mustRead(t, "testdata/invite.txt"),
		[]byte("SIP/2.0 407 Proxy Authentication Required\r\nProxy-Authenticate: Digest realm=\"r\", nonce=\"n\"\r\nv: SIP/2.0/UDP a\r\nl: 0\r\n\r\n"),
		[]byte("REGISTER sip:x SIP/2.0\r\nm: *\r\n"),
	}
	for _, in := range msgs {
		var want Message
		if err := want.Parse(in); err != nil {
			t.Fatal(err)
		}
		var m Message
		dirty(reflect.ValueOf(&m).Elem())
		m.Vias = m.vias[:] // every Via slot in use
		if err := m.Parse(in); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(m, want) {
			t.Errorf("%.20q: after a stale message\n got %+v\nwant %+v", in, m, want)
		}
	}
}
