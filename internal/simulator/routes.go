package simulator

import "net/http"

// lookupRoute maps a method and the path segments after the version to a
// route of that version.
func lookupRoute(version, method string, segs []string) (route, bool) {
	n := len(segs)
	if version == "2" {
		if method == http.MethodGet && n == 2 && segs[0] == "journeys" {
			return route{group: groupStatus, auth: true, perm: PermStatus, handler: (*Simulator).v2Status}, true
		}
		return route{}, false
	}
	switch {
	case n == 1 && segs[0] == "journeys" && method == http.MethodGet:
		return route{group: groupStatus, auth: true, perm: PermStatus, handler: (*Simulator).list}, true
	case n == 1 && segs[0] == "journeys" && method == http.MethodPost:
		return route{group: groupSubmit, auth: true, perm: PermCreate, handler: (*Simulator).submit}, true
	case n == 2 && segs[0] == "journeys" && method == http.MethodGet:
		return route{group: groupStatus, auth: true, perm: PermStatus, handler: (*Simulator).status}, true
	case n == 2 && segs[0] == "journeys" && method == http.MethodPatch:
		return route{group: groupStatus, auth: true, perm: PermCreate, handler: (*Simulator).patch}, true
	case n == 3 && segs[0] == "journeys" && segs[2] == "cancel" && method == http.MethodPost:
		// The servers count cancels with submissions (rl-acquisition).
		return route{group: groupSubmit, auth: true, perm: PermCancel, handler: (*Simulator).cancel}, true
	case n == 2 && segs[0] == "auth" && segs[1] == "access_token" && method == http.MethodPost:
		return route{group: groupToken, handler: (*Simulator).accessToken}, true
	case n == 2 && segs[0] == "certificates" && method == http.MethodGet:
		return route{group: groupOther, auth: true, handler: (*Simulator).certificate}, true
	}
	return route{}, false
}
