package httpapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// memberJSON is a member in the members API (etcd's httptypes.Member, plus
// cairn's isLearner extension, omitted for voting members).
type memberJSON struct {
	ID         string   `json:"id"`
	Name       string   `json:"name"`
	PeerURLs   []string `json:"peerURLs"`
	ClientURLs []string `json:"clientURLs"`
	IsLearner  bool     `json:"isLearner,omitempty"`
}

func toMemberJSON(m Member) memberJSON {
	out := memberJSON{ID: hexID(m.ID), Name: m.Name, PeerURLs: m.PeerURLs, ClientURLs: m.ClientURLs, IsLearner: m.IsLearner}
	if out.PeerURLs == nil {
		out.PeerURLs = []string{}
	}
	if out.ClientURLs == nil {
		out.ClientURLs = []string{}
	}
	return out
}

// memberRequest is the body of POST and PUT.
type memberRequest struct {
	PeerURLs  []string `json:"peerURLs"`
	IsLearner bool     `json:"isLearner"`
}

func (h *Handler) serveMembers(w http.ResponseWriter, r *http.Request) {
	rest := strings.Trim(strings.TrimPrefix(r.URL.Path, "/v2/members"), "/")
	parts := []string{}
	if rest != "" {
		parts = strings.Split(rest, "/")
	}
	allow := func(methods string) {
		w.Header().Set("Allow", methods)
		http.Error(w, "Method Not Allowed", http.StatusMethodNotAllowed)
	}
	// etcd's membersHandler: other methods are refused up front; a GET of
	// anything but the list or the leader is 404 "Not found".
	switch r.Method {
	case http.MethodGet, http.MethodPost, http.MethodDelete, http.MethodPut:
	default:
		allow("GET,POST,DELETE,PUT")
		return
	}
	w.Header().Set("X-Etcd-Cluster-Id", hexID(h.b.ClusterID()))
	if raw := strings.TrimPrefix(strings.TrimPrefix(r.URL.Path, "/v2/members"), "/"); r.Method == http.MethodGet && raw != "" && raw != "leader" {
		writeMessage(w, http.StatusNotFound, "Not found")
		return
	}
	switch {
	case len(parts) == 0:
		switch r.Method {
		case http.MethodGet:
			ms := h.b.Members()
			out := struct {
				Members []memberJSON `json:"members"`
			}{Members: []memberJSON{}}
			for _, m := range ms {
				out.Members = append(out.Members, toMemberJSON(m))
			}
			writeJSON(w, http.StatusOK, out)
		case http.MethodPost:
			if h.forward(w, r) {
				return
			}
			req, ok := decodeMemberRequest(w, r)
			if !ok {
				return
			}
			ctx, cancel := contextTimeout(r, h.timeout)
			defer cancel()
			m, err := h.b.AddMember(ctx, req.PeerURLs, req.IsLearner)
			if err != nil {
				writeMemberError(w, err, "")
				return
			}
			writeJSON(w, http.StatusCreated, toMemberJSON(m))
		default:
			// etcd: DELETE or PUT without a member ID, no Allow header.
			http.Error(w, "Method Not Allowed", http.StatusMethodNotAllowed)
		}
	case len(parts) == 1 && parts[0] == "leader" && r.Method == http.MethodGet:
		lead := h.b.Leader()
		for _, m := range h.b.Members() {
			if lead != 0 && m.ID == lead {
				writeJSON(w, http.StatusOK, toMemberJSON(m))
				return
			}
		}
		writeMessage(w, http.StatusServiceUnavailable, "During election")
	case len(parts) == 1 || (len(parts) == 2 && parts[1] == "promote"):
		id, err := strconv.ParseUint(parts[0], 16, 64)
		if err != nil {
			writeMessage(w, http.StatusNotFound, fmt.Sprintf("No such member: %s", parts[0]))
			return
		}
		ctx, cancel := contextTimeout(r, h.timeout)
		defer cancel()
		if len(parts) == 2 {
			if r.Method != http.MethodPost {
				allow("POST")
				return
			}
			if h.forward(w, r) {
				return
			}
			m, err := h.b.PromoteMember(ctx, id)
			if err != nil {
				writeMemberError(w, err, parts[0])
				return
			}
			writeJSON(w, http.StatusOK, toMemberJSON(m))
			return
		}
		switch r.Method {
		case http.MethodDelete:
			if h.forward(w, r) {
				return
			}
			if err := h.b.RemoveMember(ctx, id); err != nil {
				writeMemberError(w, err, parts[0])
				return
			}
			w.WriteHeader(http.StatusNoContent)
		case http.MethodPut:
			if h.forward(w, r) {
				return
			}
			req, ok := decodeMemberRequest(w, r)
			if !ok {
				return
			}
			if err := h.b.UpdateMember(ctx, id, req.PeerURLs); err != nil {
				writeMemberError(w, err, parts[0])
				return
			}
			w.WriteHeader(http.StatusNoContent)
		default:
			allow("DELETE,PUT")
		}
	default:
		http.NotFound(w, r)
	}
}

func decodeMemberRequest(w http.ResponseWriter, r *http.Request) (memberRequest, bool) {
	var req memberRequest
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if ct != "application/json" {
		writeMessage(w, http.StatusUnsupportedMediaType,
			fmt.Sprintf("Bad Content-Type %s, accept application/json", r.Header.Get("Content-Type")))
		return req, false
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		writeMessage(w, http.StatusBadRequest, err.Error())
		return req, false
	}
	if len(req.PeerURLs) == 0 {
		writeMessage(w, http.StatusBadRequest, "peerURLs must not be empty")
		return req, false
	}
	for _, s := range req.PeerURLs {
		u, err := url.Parse(s)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") {
			writeMessage(w, http.StatusBadRequest, fmt.Sprintf("URL must be of the form scheme://host:port: %q", s))
			return req, false
		}
	}
	return req, true
}

func writeMemberError(w http.ResponseWriter, err error, id string) {
	switch {
	case errors.Is(err, ErrMemberNotFound):
		writeMessage(w, http.StatusNotFound, "No such member: "+id)
	case errors.Is(err, ErrMemberRemoved):
		writeMessage(w, http.StatusGone, "Member permanently removed: "+id)
	case errors.Is(err, ErrMemberExists):
		writeMessage(w, http.StatusConflict, "etcdserver: Peer URLs already exists")
	// The next three are cairn's own answers (etcd 3.4's v2 API has no
	// promote, and says {"message":"Internal Server Error"} for an unsafe
	// add); their bodies end in a newline because server's tests pin
	// them so.
	case errors.Is(err, ErrLearnerNotReady):
		writeJSON(w, http.StatusPreconditionFailed, messageJSON{ErrLearnerNotReady.Error()})
	case errors.Is(err, ErrNotLearner):
		writeJSON(w, http.StatusPreconditionFailed, messageJSON{ErrNotLearner.Error()})
	case errors.Is(err, ErrBadRequest):
		writeMessage(w, http.StatusBadRequest, err.Error())
	case errors.Is(err, ErrUnhealthy):
		writeJSON(w, http.StatusInternalServerError, messageJSON{ErrUnhealthy.Error()})
	case errors.Is(err, ErrStopped):
		writeMessage(w, http.StatusInternalServerError, ErrStopped.Error())
	default:
		writeMessage(w, http.StatusInternalServerError, ErrTimeout.Error())
	}
}
