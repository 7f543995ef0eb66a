package conformance_test

import (
	"fmt"
	"strings"

	"cairn/httpapi/conformance"
)

func ExampleParse() {
	steps, err := conformance.Parse(strings.NewReader(`# a watch answered by a later write
PUT /v2/keys/a value=1
watch w GET /v2/keys/a?wait=true
+expect-diff not yet implemented
PUT /v2/keys/a value=2&prevExist=true
await w
`))
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, s := range steps {
		fmt.Printf("line %d: %s", s.Line, s)
		if s.ExpectDiff != "" {
			fmt.Printf(" (expected to differ: %s)", s.ExpectDiff)
		}
		fmt.Println()
	}
	// Output:
	// line 2: PUT /v2/keys/a value=1
	// line 3: watch w GET /v2/keys/a?wait=true
	// line 5: PUT /v2/keys/a value=2&prevExist=true (expected to differ: not yet implemented)
	// line 6: await w
}
