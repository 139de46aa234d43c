package dev.edgekit.sample

import android.app.Activity
import android.os.Bundle
import android.widget.Button
import android.widget.EditText
import android.widget.LinearLayout
import android.widget.TextView
import kotlinx.coroutines.CoroutineScope
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.SupervisorJob
import kotlinx.coroutines.cancel
import kotlinx.coroutines.launch
import kotlinx.coroutines.withContext

/** One screen: a text field, a button, and the answer streamed below. */
class MainActivity : Activity() {
    private val scope = CoroutineScope(SupervisorJob() + Dispatchers.Main)
    private var chat: ChatBackend? = null

    override fun onCreate(savedInstanceState: Bundle?) {
        super.onCreate(savedInstanceState)
        val prompt = EditText(this).apply { hint = "Ask Gemma something" }
        val send = Button(this).apply { text = "Send" }
        val output = TextView(this).apply { text = "Loading the model…" }
        send.isEnabled = false
        setContentView(
            LinearLayout(this).apply {
                orientation = LinearLayout.VERTICAL
                addView(prompt)
                addView(send)
                addView(output)
            },
        )

        scope.launch {
            val config = ModelConfig.load(this@MainActivity)
            val backend =
                runCatching { withContext(Dispatchers.IO) { ChatBackend.create(this@MainActivity, config) } }
            backend
                .onSuccess {
                    chat = it
                    output.text = ""
                    send.isEnabled = true
                }.onFailure { output.text = "The model could not be loaded: ${it.message}" }
        }

        send.setOnClickListener {
            val backend = chat ?: return@setOnClickListener
            val question = prompt.text.toString()
            output.text = ""
            send.isEnabled = false
            scope.launch {
                withContext(Dispatchers.IO) {
                    backend.reply(question) { partial -> runOnUiThread { output.append(partial) } }
                }
                send.isEnabled = true
            }
        }
    }

    override fun onDestroy() {
        scope.cancel()
        chat?.close()
        super.onDestroy()
    }
}
