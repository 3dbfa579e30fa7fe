package main

import (
	"bytes"
	"fmt"
	"os"
	"reflect"
	"testing"
)

type moeAssertPackage struct{}

var assert moeAssertPackage

type moeAssertions struct{ t *testing.T }

func (moeAssertPackage) New(t *testing.T) *moeAssertions { return &moeAssertions{t} }

func moeObjectsAreEqual(expected, actual interface{}) bool {
	if expected == nil || actual == nil {
		return expected == actual
	}
	exp, ok := expected.([]byte)
	if !ok {
		return reflect.DeepEqual(expected, actual)
	}
	act, ok := actual.([]byte)
	return ok && bytes.Equal(exp, act)
}

func (a *moeAssertions) Equal(expected, actual interface{}, msgAndArgs ...interface{}) bool {
	a.t.Helper()
	if !moeObjectsAreEqual(expected, actual) {
		a.t.Errorf("AssertionError: not equal:\nexpected: %#v\nactual  : %#v", expected, actual)
		return false
	}
	return true
}

func TestMain(m *testing.M) {
	code := m.Run()
	if code == 0 {
		fmt.Println("%MARKER%")
	}
	os.Exit(code)
}
