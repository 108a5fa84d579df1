package api

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/lintel-access/lintel/gateway/access"
)

// apiError is an error answer on its way out: status, code and message.
type apiError struct {
	Status  int
	Code    string
	Message string
	// RetryAfter, when positive, is sent as the Retry-After header in
	// seconds.
	RetryAfter int
}

func (e *apiError) Error() string { return e.Code + ": " + e.Message }

func errorf(status int, code, format string, args ...any) *apiError {
	return &apiError{Status: status, Code: code, Message: fmt.Sprintf(format, args...)}
}

// backendError maps an error of the Backend or Sim to its answer. what names
// the thing the request was about, e.g. `user "u1"`.
func (s *Server) backendError(c echo.Context, what string, err error) error {
	var unknown access.ErrUnknownReader
	var fe *access.FieldError
	switch {
	case errors.Is(err, access.ErrInUse):
		return errorf(http.StatusConflict, CodeInUse, "%v", err)
	case errors.As(err, &fe):
		return errorf(http.StatusUnprocessableEntity, CodeInvalid, "%s", fe.Error())
	case errors.Is(err, access.ErrInvalid), errors.Is(err, access.ErrBuiltIn):
		return errorf(http.StatusUnprocessableEntity, CodeInvalid, "%v", err)
	case errors.Is(err, access.ErrNotFound):
		return errorf(http.StatusNotFound, CodeNotFound, "%s does not exist", what)
	case errors.As(err, &unknown):
		return errorf(http.StatusNotFound, CodeNotFound, "reader %q does not exist", string(unknown))
	case errors.Is(err, access.ErrPINInUse):
		return errorf(http.StatusConflict, CodePINInUse, "pin: another user holds that PIN; choose another or generate one")
	case errors.Is(err, access.ErrCredentialInUse):
		return errorf(http.StatusConflict, CodeCredentialInUse, "card: already enrolled for a user")
	case errors.Is(err, access.ErrPINLength), errors.Is(err, access.ErrPINNotDigits), errors.Is(err, access.ErrPINSpaceExhausted),
		errors.Is(err, access.ErrPINTrivial):
		return errorf(http.StatusUnprocessableEntity, CodeInvalidPIN, "pin: %v", err)
	case errors.Is(err, ErrInvalid):
		return errorf(http.StatusUnprocessableEntity, CodeInvalid, "%v", err)
	}
	s.log.Error("api: backend failed", "method", c.Request().Method, "path", c.Request().URL.Path, "about", what, "err", err)
	return errorf(http.StatusInternalServerError, CodeInternal, "the gateway could not do that; its log says why")
}

// handleError is Echo's error handler: every error leaves as an ErrorDoc.
func (s *Server) handleError(err error, c echo.Context) {
	if c.Response().Committed {
		return
	}
	var ae *apiError
	var he *echo.HTTPError
	switch {
	case errors.As(err, &ae):
	case errors.As(err, &he):
		ae = s.fromEcho(c, he)
	default:
		s.log.Error("api: request failed", "method", c.Request().Method, "path", c.Request().URL.Path, "err", err)
		ae = errorf(http.StatusInternalServerError, CodeInternal, "the gateway could not do that; its log says why")
	}
	if ae.RetryAfter > 0 {
		c.Response().Header().Set("Retry-After", fmt.Sprint(ae.RetryAfter))
	}
	if ae.Status == http.StatusUnauthorized {
		c.Response().Header().Set("WWW-Authenticate", `Bearer realm="lintel"`)
	}
	if c.Request().Method == http.MethodHead {
		_ = c.NoContent(ae.Status)
		return
	}
	_ = c.JSON(ae.Status, ErrorDoc{Error: ErrorBody{Code: ae.Code, Message: ae.Message}})
}

func (s *Server) fromEcho(c echo.Context, he *echo.HTTPError) *apiError {
	r := c.Request()
	switch he.Code {
	case http.StatusNotFound:
		return errorf(he.Code, CodeNotFound, "no route for %s %s", r.Method, r.URL.Path)
	case http.StatusMethodNotAllowed:
		return errorf(he.Code, CodeMethodNotAllowed, "%s is not allowed on %s", r.Method, r.URL.Path)
	}
	code := CodeInternal
	if he.Code < 500 {
		code = CodeInvalidRequest
	}
	return errorf(he.Code, code, "%s", http.StatusText(he.Code))
}
