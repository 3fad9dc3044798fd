// Command dashboard-check decodes Grafana dashboard JSON files strictly with the Grafana
// Foundation SDK (an unknown field, a wrong type or a missing required field is an error),
// validates them, applies the project's own rules (a datasource variable, unique panel ids,
// every panel placed, titled and backed by Prometheus queries that use that variable), and
// prints each dashboard's panels and their PromQL expressions as JSON on stdout, so that a test
// can run every panel's query against a real Prometheus.
//
// Usage: dashboard-check FILE.json... ; exit status 1 with the problems on stderr.
package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"

	"github.com/grafana/grafana-foundation-sdk/go/cog"
	"github.com/grafana/grafana-foundation-sdk/go/cog/plugins"
	"github.com/grafana/grafana-foundation-sdk/go/common"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
	"github.com/grafana/grafana-foundation-sdk/go/prometheus"
)

// datasourceVariable is the template variable every panel and query must take its data from.
const datasourceVariable = "${datasource}"

type query struct {
	RefID string `json:"refId"`
	Expr  string `json:"expr"`
}

type panel struct {
	ID      uint32  `json:"id"`
	Title   string  `json:"title"`
	Type    string  `json:"type"`
	Row     string  `json:"row,omitempty"`
	Queries []query `json:"queries"`
}

type report struct {
	File   string  `json:"file"`
	UID    string  `json:"uid"`
	Title  string  `json:"title"`
	Panels []panel `json:"panels"`
}

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: dashboard-check FILE.json...")
		os.Exit(2)
	}
	plugins.RegisterDefaultPlugins()
	var reports []report
	failed := false
	for _, file := range os.Args[1:] {
		checked, problems := check(file)
		for _, problem := range problems {
			fmt.Fprintf(os.Stderr, "%s: %s\n", file, problem)
		}
		if len(problems) > 0 {
			failed = true
			continue
		}
		reports = append(reports, checked)
	}
	if failed {
		os.Exit(1)
	}
	out := json.NewEncoder(os.Stdout)
	out.SetIndent("", "  ")
	if err := out.Encode(map[string][]report{"dashboards": reports}); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

func check(file string) (report, []error) {
	raw, err := os.ReadFile(file)
	if err != nil {
		return report{}, []error{err}
	}
	var board dashboard.Dashboard
	if err := failure(board.UnmarshalJSONStrict(raw)); err != nil {
		return report{}, []error{fmt.Errorf("strict decoding: %w", err)}
	}
	if err := failure(board.Validate()); err != nil {
		return report{}, []error{fmt.Errorf("validation: %w", err)}
	}
	var problems []error
	result := report{File: file}
	if board.Uid == nil || *board.Uid == "" {
		problems = append(problems, errors.New("the dashboard has no uid"))
	} else {
		result.UID = *board.Uid
	}
	if board.Title != nil {
		result.Title = *board.Title
	}
	if !hasDatasourceVariable(board) {
		problems = append(problems, errors.New(
			`templating has no variable "datasource" of type "datasource" for Prometheus`))
	}
	// The SDK's nested strict decoders report an empty error list as a non-nil error, and a
	// parent then drops the child it decoded (its errors, if any, are still reported above).
	// So the panels and their queries are decoded here again, one by one, each strictly.
	var layout struct {
		Panels []json.RawMessage `json:"panels"`
	}
	if err := json.Unmarshal(raw, &layout); err != nil {
		return report{}, []error{err}
	}
	seen := map[uint32]string{}
	for i, rawPanel := range layout.Panels {
		var kind struct {
			Type string `json:"type"`
		}
		if err := json.Unmarshal(rawPanel, &kind); err != nil {
			problems = append(problems, fmt.Errorf("panels[%d]: %w", i, err))
			continue
		}
		if kind.Type != "row" {
			checked, errs := checkPanel(rawPanel, seen)
			problems = append(problems, errs...)
			result.Panels = append(result.Panels, checked)
			continue
		}
		var row dashboard.RowPanel
		if err := failure(row.UnmarshalJSONStrict(rawPanel)); err != nil {
			problems = append(problems, fmt.Errorf("panels[%d]: %w", i, err))
			continue
		}
		if _, dup := seen[row.Id]; dup {
			problems = append(problems, fmt.Errorf("panel id %d is used twice", row.Id))
		}
		seen[row.Id] = "row"
		var inner struct {
			Panels []json.RawMessage `json:"panels"`
		}
		if err := json.Unmarshal(rawPanel, &inner); err != nil {
			problems = append(problems, fmt.Errorf("panels[%d]: %w", i, err))
			continue
		}
		for _, rawInner := range inner.Panels {
			checked, errs := checkPanel(rawInner, seen)
			if row.Title != nil {
				checked.Row = *row.Title
			}
			problems = append(problems, errs...)
			result.Panels = append(result.Panels, checked)
		}
	}
	if len(result.Panels) == 0 {
		problems = append(problems, errors.New("the dashboard has no panel"))
	}
	return result, problems
}

// failure is err, or nil when err is an empty cog.BuildErrors: the SDK returns its error list
// as an error even when the list is empty (a non-nil interface holding a nil slice).
func failure(err error) error {
	var listed cog.BuildErrors
	if errors.As(err, &listed) && len(listed) == 0 {
		return nil
	}
	return err
}

func hasDatasourceVariable(board dashboard.Dashboard) bool {
	for _, variable := range board.Templating.List {
		if variable.Type != "datasource" || variable.Name != "datasource" || variable.Query == nil {
			continue
		}
		if variable.Query.String != nil && *variable.Query.String == "prometheus" {
			return true
		}
	}
	return false
}

func usesVariable(ref *common.DataSourceRef) bool {
	return ref != nil && ref.Uid != nil && *ref.Uid == datasourceVariable &&
		ref.Type != nil && *ref.Type == "prometheus"
}

func checkPanel(raw json.RawMessage, seen map[uint32]string) (panel, []error) {
	var p dashboard.Panel
	if err := failure(p.UnmarshalJSONStrict(raw)); err != nil {
		return panel{}, []error{err}
	}
	var problems []error
	result := panel{Type: p.Type}
	if p.Title != nil {
		result.Title = *p.Title
	}
	where := fmt.Sprintf("panel %q", result.Title)
	if p.Id == nil {
		problems = append(problems, fmt.Errorf("%s has no id", where))
	} else {
		result.ID = *p.Id
		if other, dup := seen[*p.Id]; dup {
			problems = append(problems, fmt.Errorf("%s: id %d is also %q's", where, *p.Id, other))
		}
		seen[*p.Id] = result.Title
	}
	if result.Title == "" {
		problems = append(problems, fmt.Errorf("panel %d has no title", result.ID))
	}
	if p.GridPos == nil || p.GridPos.W == 0 || p.GridPos.H == 0 {
		problems = append(problems, fmt.Errorf("%s has no gridPos (or a zero width or height)", where))
	}
	if p.Type == "text" {
		return result, problems
	}
	if !usesVariable(p.Datasource) {
		problems = append(problems, fmt.Errorf("%s: datasource must be {type: prometheus, uid: %s}",
			where, datasourceVariable))
	}
	var targets struct {
		Targets []json.RawMessage `json:"targets"`
	}
	if err := json.Unmarshal(raw, &targets); err != nil {
		return result, append(problems, fmt.Errorf("%s: %w", where, err))
	}
	if len(targets.Targets) == 0 {
		problems = append(problems, fmt.Errorf("%s has no query", where))
	}
	for i, rawTarget := range targets.Targets {
		var promQuery prometheus.Dataquery
		if err := failure(promQuery.UnmarshalJSONStrict(rawTarget)); err != nil {
			problems = append(problems, fmt.Errorf("%s: targets[%d]: %w", where, i, err))
			continue
		}
		if err := failure(promQuery.Validate()); err != nil {
			problems = append(problems, fmt.Errorf("%s: targets[%d]: %w", where, i, err))
		}
		refID := ""
		if promQuery.RefId != nil {
			refID = *promQuery.RefId
		}
		if refID == "" || promQuery.Expr == "" {
			problems = append(problems, fmt.Errorf("%s: targets[%d] needs a refId and an expr", where, i))
		}
		if !usesVariable(promQuery.Datasource) {
			problems = append(problems, fmt.Errorf("%s: target %s: datasource must be {type: prometheus, uid: %s}",
				where, refID, datasourceVariable))
		}
		result.Queries = append(result.Queries, query{RefID: refID, Expr: promQuery.Expr})
	}
	return result, problems
}
