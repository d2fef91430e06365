"""The customer's experience (issue 9 §3-§4): care mode (关爱版) and the function search."""
