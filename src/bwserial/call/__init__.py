"""The call's lifecycle, one job a module, driven by the serializer.

* :mod:`~bwserial.call.playout`: the play-out clock (how long the caller still hears
  audio already sent);
* :mod:`~bwserial.call.budget`: one deadline per hang-up, split between the
  play-out wait and the requests;
* :mod:`~bwserial.call.ending`: the hang-up runner, one state machine per call that
  every trigger goes through;
* :mod:`~bwserial.call.report`: the one "call ended" report;
* :mod:`~bwserial.call.outbound`: whole samples out (a dangling byte is carried).

Internal to bwserial: plugins and apps see these through the serializer and the
types in :mod:`bwserial`.
"""
