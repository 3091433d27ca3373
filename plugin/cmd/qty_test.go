package cmd

import "k8s.io/apimachinery/pkg/api/resource"

type resourceQuantity = resource.Quantity

func mustQty(s string) resource.Quantity { return resource.MustParse(s) }

var errForbidden = errorString("rbac: access denied")

type errorString string

func (e errorString) Error() string { return string(e) }
