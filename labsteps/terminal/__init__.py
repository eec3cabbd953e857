"""Shells on ptys in lab hosts: their lifetime, screens, shell marks, and the websocket bridge."""
